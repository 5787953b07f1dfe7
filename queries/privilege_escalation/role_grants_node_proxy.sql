/*
id = "role_grants_node_proxy"
title = "Role granting nodes/proxy"
description = "A Role or ClusterRole grants nodes/proxy: direct access to every kubelet API (exec into any pod, read logs and secrets), bypassing API-server audit."
kind = "alert"
severity = "high"
attack = ["T1078.004", "T1098.006"]
tags = ["rbac"]
catalog = ["D45"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/"]
false_positives = "Operators that legitimately need it; allow-list their installer in platform_rbac_admins."
remediation = "Remove the grant from {obj_resource} {obj_name} (kubectl edit {obj_resource} {obj_name}) unless it was approved, and check who is bound to it."
*/
SELECT *
FROM k8s_rbac_writes
WHERE obj_resource IN ('roles', 'clusterroles') AND verb IN ('create', 'update', 'patch') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND ('|' || array_to_string(grants, '|') || '|') ~ '\|[^|]* (nodes/proxy|nodes/\*|\*)\|'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:') AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
