/*
id = "secret_changed"
title = "Secret created, changed or deleted by a person"
description = "A person or workload identity created, changed or deleted a Secret outside kube-system. Low severity: routine for deployments, but a deleted or replaced secret can break or hijack a workload."
kind = "duet"
severity = "low"
attack = ["T1565.001", "T1485"]
tags = ["secrets"]
catalog = ["D67"]
references = ["https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_secrets_modified_or_deleted.yml", "https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml"]
false_positives = "Deployments and secret rotation by CI."
first_action = "Did you expect {actor} to {verb} secret {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'secrets' AND verb IN ('create', 'update', 'patch', 'delete') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(obj_namespace, '') <> 'kube-system' AND actor_class IN ('human', 'service_account', 'anonymous')
  AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
