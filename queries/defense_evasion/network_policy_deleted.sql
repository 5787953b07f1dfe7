/*
id = "network_policy_deleted"
title = "NetworkPolicy deleted"
description = "A NetworkPolicy was deleted by a person or workload identity. Removing network policies opens lateral paths between workloads and to the outside; an intruder does it before moving laterally or exfiltrating."
kind = "duet"
severity = "medium"
attack = ["T1562.007"]
tags = ["network", "defense-evasion"]
catalog = []
references = ["https://kubernetes.io/docs/concepts/services-networking/network-policies/"]
false_positives = "Deployments that replace their policies (Helm upgrades delete and recreate them): expected actors are CI identities; the namespace-controller deleting a namespace's policies is excluded."
first_action = "Did you expect {actor} to delete NetworkPolicy {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'networkpolicies'
  AND verb IN ('delete', 'deletecollection')
  AND succeeded
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class IN ('human', 'service_account', 'anonymous')
  AND actor <> 'system:serviceaccount:kube-system:namespace-controller'
