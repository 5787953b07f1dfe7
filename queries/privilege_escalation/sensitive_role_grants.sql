/*
id = "sensitive_role_grants"
title = "Role granting escalate, bind, impersonate or other takeover permissions"
description = "A Role or ClusterRole was created or changed to grant verbs that bypass RBAC (escalate, bind, impersonate), write access to RBAC objects, pods/exec, serviceaccounts/token, nodes/proxy or DaemonSets, or read access to secrets. Each lets its holder become someone more powerful."
kind = "alert"
severity = "high"
attack = ["T1098.006"]
tags = ["rbac"]
catalog = ["D46"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/persistence_sensitive_role_creation_or_modification.toml"]
false_positives = "Roles of operators and policy engines that manage RBAC; control-plane identities (EKS eks:*, AKS aksService, the aggregation controller) are excluded."
remediation = "Review the role's rules (kubectl get {obj_resource} {obj_name} -o yaml), remove the sensitive grants, and check who is bound to it."
*/
SELECT *, array_to_string(grants, ', ') AS granted
FROM k8s_rbac_writes
WHERE obj_resource IN ('roles', 'clusterroles')
  AND verb IN ('create', 'update', 'patch')
  AND ('|' || array_to_string(grants, '|') || '|') ~ '\|((escalate|bind|impersonate) [^|]*|(\*|create|patch|update) (\*|clusterroles|clusterrolebindings|roles|rolebindings|pods/exec|serviceaccounts/token|nodes/proxy|daemonsets)|(\*|get|list) (\*|secrets))\|'
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
