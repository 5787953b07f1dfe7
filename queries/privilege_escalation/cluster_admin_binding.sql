/*
id = "cluster_admin_binding"
title = "Binding to cluster-admin or another super-role"
description = "A ClusterRoleBinding or RoleBinding granting cluster-admin or system:masters (or, cluster-wide, admin or a control-plane role) was created or changed. Whoever the subject is now controls the cluster; this is the most direct takeover and persistence step."
kind = "alert"
severity = "critical"
attack = ["T1098.006", "T1078.004"]
tags = ["rbac"]
catalog = ["D41"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_cluster_role_binding_privileged.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/persistence_cluster_admin_rolebinding_created.toml"]
false_positives = "Platform pipelines granting break-glass access: list them in platform_rbac_admins."
remediation = "kubectl delete {obj_resource} {obj_name} (add -n {obj_namespace} for a RoleBinding) unless the grant was approved; then review what its subjects did."
*/
SELECT *
FROM k8s_rbac_writes
WHERE obj_resource IN ('clusterrolebindings', 'rolebindings')
  AND verb IN ('create', 'update', 'patch')
  AND (role_ref_name IN ('cluster-admin', 'system:masters')
       OR (obj_resource = 'clusterrolebindings' AND role_ref_name IN ('admin', 'system:kube-controller-manager', 'system:kube-scheduler')))
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
