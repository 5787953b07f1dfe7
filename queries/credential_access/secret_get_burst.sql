/*
id = "secret_get_burst"
title = "Burst of reads of many different secrets"
description = "One identity, from one address and client, read at least 10 different secrets (or listed secrets in 10 namespaces) within a 5-minute bucket. Workloads read the few secrets they mount; reading many distinct ones is credential harvesting."
kind = "alert"
severity = "high"
attack = ["T1552.007"]
tags = ["secrets"]
catalog = ["D56"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/credential_access_kubernetes_multiple_secret_retrieval_burst.toml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_bulk_secret_access.yml"]
false_positives = "Secret-sync operators (external-secrets, sealed-secrets, Flux) and backup tools: add them to secret_listers. Helm release secrets (sh.helm.release.*) are ignored."
remediation = "Rotate the secrets read (see audit_ids), remove {actor}'s get permission on secrets, and investigate {source_ip}."
bucket = "5m"
group_by = ["cluster", "actor", "source_ip", "user_agent"]
*/
SELECT array_agg(audit_id) AS audit_ids,
       min(event_time) AS event_time,
       cluster, actor, source_ip, user_agent,
       min(verb) AS verb, 'secrets' AS obj_resource,
       CAST(NULL AS VARCHAR) AS obj_namespace, CAST(NULL AS VARCHAR) AS obj_name,
       cardinality(array_distinct(array_agg(coalesce(obj_namespace, '') || '/' || coalesce(obj_name, verb)))) AS distinct_secrets,
       date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket
FROM k8s_events
WHERE verb IN ('get', 'list', 'watch') AND obj_resource = 'secrets'
  AND coalesce(obj_name, '') NOT LIKE 'sh.helm.release.%'
  AND coalesce(source_ip_class, '') <> 'loopback'
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'secret_listers')
GROUP BY cluster, actor, source_ip, user_agent, date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z')
HAVING cardinality(array_distinct(array_agg(coalesce(obj_namespace, '') || '/' || coalesce(obj_name, verb)))) >= 10
