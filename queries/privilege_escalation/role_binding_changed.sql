/*
id = "role_binding_changed"
title = "RoleBinding or ClusterRoleBinding changed"
description = "A RoleBinding or ClusterRoleBinding was created, changed or deleted by a person or workload identity. Every grant of access should be expected; cluster-admin bindings alert separately."
kind = "duet"
severity = "low"
attack = ["T1098.006"]
tags = ["rbac"]
catalog = ["D42"]
references = ["https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_rolebinding_modification.yml", "https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml"]
false_positives = "Access changes shipped by the platform team."
first_action = "Did you expect {actor} to {verb} {obj_resource} {obj_namespace}/{obj_name} (role {role_ref_name}, subjects {subject_list})?"
*/
SELECT *, array_to_string(subjects, ', ') AS subject_list
FROM k8s_rbac_writes
WHERE obj_resource IN ('clusterrolebindings', 'rolebindings') AND verb IN ('create', 'update', 'patch', 'delete') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND NOT (role_ref_name IN ('cluster-admin', 'system:masters') AND verb <> 'delete')
