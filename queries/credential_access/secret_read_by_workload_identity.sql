/*
id = "secret_read_by_workload_identity"
title = "Secret read by a pod service account or node"
description = "A workload service account or a node read secrets from a non-loopback address. Workloads mount their own secrets through the kubelet; an application reading secrets through the API is uncommon and the first step after a pod compromise."
kind = "alert"
severity = "medium"
attack = ["T1552.007"]
tags = ["secrets"]
catalog = ["D54"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/credential_access_kubernetes_secret_read_by_node_or_pod_service_account.toml"]
false_positives = "Operators that read secrets by design (cert-manager, external-secrets, Flux, trivy): add them to secret_reader_service_accounts. Kubelets reading their pods' secrets are excluded."
remediation = "Check why {actor} reads secret {obj_namespace}/{obj_name}; restrict its Role, or add it to secret_reader_service_accounts if expected."
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'secrets' AND verb IN ('get', 'list') AND coalesce(response_code, 200) < 400 AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND starts_with(coalesce(actor, ''), 'system:serviceaccount:')
  AND NOT starts_with(actor, 'system:serviceaccount:kube-system:')
  AND coalesce(source_ip_class, '') <> 'loopback'
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'secret_reader_service_accounts')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'secret_listers')
