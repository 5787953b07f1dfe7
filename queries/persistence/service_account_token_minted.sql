/*
id = "service_account_token_minted"
title = "Service-account token minted by a person or workload"
description = "A token was requested for a service account (TokenRequest) by an identity other than the kubelet or the control plane. Minting tokens for another account is a way to borrow its permissions for hours."
kind = "duet"
severity = "medium"
attack = ["T1528", "T1550.001"]
tags = ["identity"]
catalog = ["D27"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/credential_access_kubernetes_service_account_token_created_via_tokenrequest.toml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_service_account_token_created.yml"]
false_positives = "CI systems that mint short-lived tokens on purpose."
first_action = "Did you expect {actor} to mint a token for service account {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'serviceaccounts' AND obj_subresource = 'token' AND verb = 'create' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('node', 'cloud_system')
  AND NOT ((actor_class = 'system_component' OR starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:'))
           AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
