/*
id = "service_account_writes_rbac"
title = "Service account writes RBAC objects"
description = "A workload's service account created, changed or deleted roles or bindings. Few workloads manage RBAC; a compromised one doing so is escalating."
kind = "alert"
severity = "high"
attack = ["T1098.006"]
tags = ["rbac"]
catalog = ["D49"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_service_account_rbac_write_operation.toml"]
false_positives = "Operators that manage RBAC for their own resources; add them to platform_rbac_admins."
remediation = "Review the change (kubectl get {obj_resource} -n {obj_namespace} {obj_name} -o yaml) and the workload using {actor}."
*/
SELECT *
FROM k8s_rbac_writes
WHERE starts_with(coalesce(actor, ''), 'system:serviceaccount:')
  AND actor NOT IN ('system:serviceaccount:kube-system:clusterrole-aggregation-controller', 'system:serviceaccount:kube-system:generic-garbage-collector')
  AND NOT starts_with(actor, 'system:serviceaccount:kube-system:')
  AND obj_resource IN ('clusterrolebindings', 'clusterroles', 'rolebindings', 'roles')
  AND verb IN ('create', 'delete', 'patch', 'update') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
