/*
id = "default_admin_identity_used"
title = "Cluster-creator or default admin identity used"
description = "A request by a default, all-powerful identity: the EKS cluster creator (kubernetes-admin, mapped to system:masters), kubeadm's kubernetes-admin, or a user in system:masters. These break-glass identities bypass RBAC and should not appear in day-to-day use."
kind = "duet"
severity = "medium"
attack = ["T1078.004"]
tags = ["identity"]
catalog = ["D10"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml"]
false_positives = "Platform teams that still operate with the creator identity; move them to named roles, or add the identity to admin_users."
first_action = "Did you expect {actor} (a break-glass administrator identity) to {verb} {obj_resource} {obj_namespace}/{obj_name} from {source_ip}?"
*/
SELECT *
FROM k8s_events
WHERE (actor IN ('kubernetes-admin', 'kubernetes-admin@kubernetes', 'kubernetes-admin@cluster.local', 'admin', 'minikube-user')
       OR array_has(coalesce(user_groups, make_array('')), 'system:masters'))
  AND actor_class = 'human'
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND verb NOT IN ('get', 'list', 'watch')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'admin_users')
