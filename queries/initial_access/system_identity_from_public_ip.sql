/*
id = "system_identity_from_public_ip"
title = "Service account, node or cloud system identity used from a public IP"
description = "A service account, node or EKS/AKS system identity made a request from a public address. These identities act from inside the cluster or the provider's network; a public source usually means a stolen token or kubeconfig used off-cluster."
kind = "alert"
severity = "high"
attack = ["T1078.004", "T1528", "T1550.001"]
tags = ["stolen-credentials"]
catalog = ["D08"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_system_principal_public_ip.yml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/aws_eks_rules/system_namespace_public_ip.yml"]
false_positives = "Nodes or managed components that reach the API server through public endpoints (clusters without private endpoints, cloud-provider NAT): allow-list those identities in public_ip_system_identities. The check requires both the first and the last source IP to be public (the last is the TCP peer)."
remediation = "Revoke the credential: delete the service account's token secret or rotate it (kubectl delete secret -n <ns> <token>, or recreate the service account {actor}), and find how it left the cluster."
*/
SELECT *
FROM k8s_events
WHERE (starts_with(actor, 'system:serviceaccount:') OR starts_with(actor, 'system:node:') OR starts_with(actor, 'eks:') OR starts_with(actor, 'aks:'))
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(response_code, 0) <> 403
  AND source_ip_class = 'public'
  AND k8s_ip_class(source_ips[CAST(cardinality(source_ips) AS BIGINT)]) = 'public'
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'public_ip_system_identities')
  AND NOT (actor IN ('eks:addon-manager', 'eks:node-manager')
           AND coalesce(array_to_string(user_extra['arn'], ','), '') LIKE '%:assumed-role/AWSWesleyClusterManagerLambda%')
