/*
id = "role_grants_write"
title = "Role granting write access"
description = "A Role or ClusterRole was created with write verbs (create, update, patch, delete, deletecollection). Routine for application roles, so asked rather than alerted."
kind = "duet"
severity = "low"
attack = ["T1098.006"]
tags = ["rbac"]
catalog = ["D47"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_role_write_permissions.yml"]
false_positives = "Application roles shipped by teams."
first_action = "Did you expect {actor} to create {obj_resource} {obj_namespace}/{obj_name} granting write access ({granted})?"
*/
SELECT *, array_to_string(grants, ', ') AS granted
FROM k8s_rbac_writes
WHERE obj_resource IN ('roles', 'clusterroles') AND verb = 'create' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND array_has_any(rule_verbs, make_array('create', 'update', 'patch', 'delete', 'deletecollection'))
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
