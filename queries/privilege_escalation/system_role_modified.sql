/*
id = "system_role_modified"
title = "System ClusterRole or Role modified or deleted"
description = "A built-in system: or eks: role was changed or deleted by someone other than the control plane. Altering the roles Kubernetes components run under is privilege escalation or sabotage."
kind = "alert"
severity = "critical"
attack = ["T1098.006", "T1222"]
tags = ["rbac"]
catalog = ["D48"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_system_role_modified.yml"]
false_positives = "Hand-tuning of system roles by the platform team (rare)."
remediation = "Restore the role (kubectl auth reconcile, or re-apply it from the distribution) and review {actor}'s access."
*/
SELECT *
FROM k8s_events
WHERE obj_resource IN ('roles', 'clusterroles') AND verb IN ('update', 'patch', 'delete') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND (starts_with(coalesce(obj_name, ''), 'system:') OR starts_with(coalesce(obj_name, ''), 'eks:'))
  AND obj_name NOT IN ('system:coredns', 'system:managed-certificate-controller')
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
