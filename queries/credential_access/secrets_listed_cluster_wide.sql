/*
id = "secrets_listed_cluster_wide"
title = "Secrets listed across all namespaces or in kube-system"
description = "A person or workload listed secrets across the whole cluster or in kube-system. Listing returns the secret values; cluster-wide listing is how an intruder dumps every credential at once."
kind = "alert"
severity = "high"
attack = ["T1552.007", "T1613"]
tags = ["secrets"]
catalog = ["D55"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_secrets_dump_all_namespaces.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/credential_access_kubernetes_secrets_list_cluster_and_sensitive_namespaces.toml", "https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_secrets_enumeration.yml"]
false_positives = "Backup tools and secret-sync operators list secrets cluster-wide; add their identities to secret_listers."
remediation = "Rotate every secret the listing returned (all namespaces for a cluster-wide list), remove {actor}'s list permission on secrets, and review where {source_ip} came from."
*/
SELECT *
FROM k8s_events
WHERE verb IN ('list', 'watch') AND obj_resource = 'secrets'
  AND ((obj_namespace IS NULL AND coalesce(request_uri, '') NOT LIKE '%/namespaces/%') OR obj_namespace = 'kube-system')
  AND coalesce(response_code, 200) < 400 AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(source_ip_class, '') <> 'loopback'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'secret_listers')
