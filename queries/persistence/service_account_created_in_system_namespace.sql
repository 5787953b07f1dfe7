/*
id = "service_account_created_in_system_namespace"
title = "Service account created in kube-system or kube-public"
description = "A service account was created in kube-system or kube-public under a name Kubernetes itself does not use. Attackers hide identities among system accounts."
kind = "duet"
severity = "medium"
attack = ["T1136", "T1078.001"]
tags = ["identity"]
catalog = ["D26"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_serviceaccount_creation.yml"]
false_positives = "Add-ons installed into kube-system by the platform team."
first_action = "Did you expect {actor} to create service account {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'serviceaccounts' AND obj_subresource IS NULL AND verb = 'create'
  AND obj_namespace IN ('kube-system', 'kube-public') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(obj_name, '') NOT IN (SELECT value FROM allowlist WHERE list = 'known_system_service_accounts')
  AND actor_class NOT IN ('cloud_system', 'system_component')
