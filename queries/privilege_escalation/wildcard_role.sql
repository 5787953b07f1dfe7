/*
id = "wildcard_role"
title = "Role or ClusterRole with wildcard permissions"
description = "A Role or ClusterRole was created or changed so that it grants every verb or every resource. The resulting object is checked (the response body when logged), so a patch that adds a wildcard to an existing role is caught too, not only creation."
kind = "alert"
severity = "high"
attack = ["T1098.006"]
tags = ["rbac"]
catalog = ["D43"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_role_wildcard.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_role_patch_wildcard_verbs_resources_response.toml"]
false_positives = "Operators that ship a broad ClusterRole for themselves; review and narrow them, or allow-list their installer in platform_rbac_admins."
remediation = "Narrow or delete it: kubectl delete {obj_resource} {obj_name} (add -n {obj_namespace} for a Role), and check its bindings (kubectl get rolebindings,clusterrolebindings -A -o wide | grep {obj_name})."
*/
SELECT *
FROM k8s_rbac_writes
WHERE obj_resource IN ('roles', 'clusterroles')
  AND verb IN ('create', 'update', 'patch')
  AND (array_has(rule_verbs, '*') OR array_has(rule_resources, '*'))
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
