/*
id = "impersonate_privileged_identity"
title = "Request impersonating a privileged identity"
description = "A user impersonated a privileged identity (cluster-admin, system:admin, a control-plane component, a node or a kube-system service account, or the system:masters group) and the request was allowed. Impersonation rights are rarely needed by people and hide who really acted."
kind = "alert"
severity = "high"
attack = ["T1134", "T1078"]
tags = ["impersonation"]
catalog = ["D11"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_kubernetes_api_request_impersonating_privileged_identity.toml"]
false_positives = "Break-glass tooling and some operators impersonate on purpose; list them in platform_rbac_admins."
remediation = "Remove the impersonate permission from {actor} (find the role granting verb impersonate) and review what was done as the impersonated identity."
*/
SELECT *
FROM k8s_events
WHERE impersonated_user_name IS NOT NULL
  AND authz_decision = 'allow'
  AND verb IN ('create', 'delete', 'get', 'list', 'patch', 'update')
  AND impersonated_user_name <> 'eks-event-service:event-controller' AND NOT starts_with(impersonated_user_name, 'eks:')
  AND (impersonated_user_name IN ('admin', 'cluster-admin', 'kubernetes-admin', 'system:admin', 'system:anonymous', 'system:apiserver',
                                  'system:kube-controller-manager', 'system:kube-proxy', 'system:kube-scheduler', 'system:volume-scheduler')
       OR starts_with(impersonated_user_name, 'system:node:')
       OR starts_with(impersonated_user_name, 'system:serviceaccount:kube-system:')
       OR array_has_any(coalesce(impersonated_user_groups, make_array('')), make_array('cluster-admin', 'system:cluster-admins', 'system:masters')))
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND coalesce(actor, '') !~ '^arn:aws:(iam|sts)::[0-9]+:(role|assumed-role)/(aws-service-role|AWSServiceRoleForAmazonEKS)'
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
