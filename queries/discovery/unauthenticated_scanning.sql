/*
id = "unauthenticated_scanning"
title = "Unauthenticated API scanning from one address"
description = "One source address made more than five unauthenticated requests that were refused (401/403) across several endpoints within a 5-minute bucket: an internet scanner or an attacker probing an exposed API server."
kind = "alert"
severity = "medium"
attack = ["T1046", "T1613", "T1595.003"]
tags = ["scanning"]
catalog = ["D03"]
references = ["https://github.com/splunk/security_content/blob/develop/detections/cloud/kubernetes_scanning_by_unauthenticated_ip_address.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/discovery_endpoint_permission_enumeration_by_anonymous_user.toml"]
false_positives = "Uptime monitors pointed at the API server without credentials; allow-list by restricting API endpoint access instead."
remediation = "Restrict public access to the API endpoint (EKS publicAccessCidrs, AKS authorized IP ranges) and block {source_ip}."
bucket = "5m"
group_by = ["cluster", "source_ip"]
*/
SELECT array_agg(audit_id) AS audit_ids, min(event_time) AS event_time, cluster, source_ip, min(user_agent) AS user_agent, min(actor) AS actor,
       min(verb) AS verb, min(obj_resource) AS obj_resource, CAST(NULL AS VARCHAR) AS obj_namespace, CAST(NULL AS VARCHAR) AS obj_name,
       count(*) AS refused, cardinality(array_distinct(array_agg(request_uri) FILTER (WHERE request_uri IS NOT NULL))) AS distinct_uris, date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket
FROM k8s_events
WHERE (actor IS NULL OR actor IN ('', 'system:anonymous') OR array_has(coalesce(user_groups, make_array('')), 'system:unauthenticated'))
  AND response_code IN (401, 403)
GROUP BY cluster, source_ip, date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z')
HAVING count(*) > 5 AND cardinality(array_distinct(array_agg(request_uri) FILTER (WHERE request_uri IS NOT NULL))) > 3
