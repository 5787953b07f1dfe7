/*
id = "secret_access_denied_burst"
title = "Repeated denied attempts to read secrets"
description = "One identity was refused reading secrets 20 or more times within a 15-minute bucket outside the system namespaces: guessing secret names or trying a credential's reach."
kind = "alert"
severity = "medium"
attack = ["T1552.007", "T1613"]
tags = ["secrets"]
catalog = ["D57"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_secret_access_denied.yml", "https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml"]
false_positives = "Broken deployments retrying a secret they lost access to (same name over and over)."
remediation = "Check what {actor} tried to read; revoke the credential if it is not a broken deployment."
bucket = "15m"
group_by = ["cluster", "actor"]
*/
SELECT array_agg(audit_id) AS audit_ids, min(event_time) AS event_time, cluster, actor, min(source_ip) AS source_ip, min(user_agent) AS user_agent,
       'get' AS verb, 'secrets' AS obj_resource, min(obj_namespace) AS obj_namespace, CAST(NULL AS VARCHAR) AS obj_name,
       count(*) AS denied, date_bin(INTERVAL '15 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket
FROM k8s_events
WHERE verb = 'get' AND obj_resource = 'secrets' AND (response_code >= 400 OR authz_decision = 'forbid')
  AND coalesce(obj_namespace, '') NOT IN (SELECT value FROM allowlist WHERE list = 'system_namespaces')
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
GROUP BY cluster, actor, date_bin(INTERVAL '15 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z')
HAVING count(*) >= 20
