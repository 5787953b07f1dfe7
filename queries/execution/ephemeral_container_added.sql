/*
id = "ephemeral_container_added"
title = "Ephemeral debug container added to a pod"
description = "An ephemeral container (kubectl debug) was added to a running pod. It shares the pod's namespaces and can reach its processes and secrets; the customer confirms the debug session."
kind = "duet"
severity = "medium"
attack = ["T1609", "T1611"]
tags = ["exec"]
catalog = ["D18"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_kubernetes_ephemeral_container_added_to_pod.toml"]
false_positives = "On-call debugging with kubectl debug."
first_action = "Did you expect {actor} to attach a debug container to pod {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'pods' AND obj_subresource = 'ephemeralcontainers' AND verb IN ('create', 'update', 'patch')
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND NOT starts_with(coalesce(actor, ''), 'system:node:') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
