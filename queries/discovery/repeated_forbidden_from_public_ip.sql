/*
id = "repeated_forbidden_from_public_ip"
title = "Repeated forbidden requests from a public address"
description = "Ten or more API requests from one public address were forbidden within a 15-minute bucket: credential misuse or enumeration from outside the network."
kind = "alert"
severity = "medium"
attack = ["T1613", "T1110"]
tags = ["scanning"]
catalog = ["D04"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/aws_eks_rules/multiple_403.yml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_multiple_403_public_ip.yml"]
false_positives = "Misconfigured CI agents outside the corporate network retrying with missing permissions."
remediation = "Find the identity behind {source_ip} ({actor}) and block the address if it is not yours."
bucket = "15m"
group_by = ["cluster", "source_ip"]
*/
SELECT array_agg(audit_id) AS audit_ids, min(event_time) AS event_time, cluster, source_ip, min(actor) AS actor, min(user_agent) AS user_agent,
       min(verb) AS verb, min(obj_resource) AS obj_resource, CAST(NULL AS VARCHAR) AS obj_namespace, CAST(NULL AS VARCHAR) AS obj_name,
       count(*) AS forbidden, date_bin(INTERVAL '15 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket
FROM k8s_events
WHERE response_code = 403 AND source_ip_class = 'public' AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND (request_uri IS NULL OR request_uri LIKE '/api/%' OR request_uri LIKE '/apis/%')
GROUP BY cluster, source_ip, date_bin(INTERVAL '15 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z')
HAVING count(*) >= 10
