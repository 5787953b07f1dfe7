/*
id = "namespace_deleted"
title = "Namespace deleted"
description = "A namespace was deleted by a person or workload identity, taking every object in it."
kind = "duet"
severity = "high"
attack = ["T1485"]
tags = ["impact"]
catalog = ["D66"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/"]
false_positives = "Decommissioning and CI-driven environment teardown."
first_action = "Did you expect {actor} to delete namespace {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'namespaces' AND verb = 'delete' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
