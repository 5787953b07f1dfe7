/*
id = "denied_actions_across_endpoints"
title = "One identity denied on many endpoints"
description = "One identity from one address was denied on more than five distinct endpoints covering more than three resource types within a 5-minute bucket, while also succeeding somewhere: permission enumeration with a stolen or over-curious credential."
kind = "alert"
severity = "medium"
attack = ["T1613", "T1069.003"]
tags = ["discovery"]
catalog = ["D05"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/discovery_endpoint_permission_enumeration_by_user_and_srcip.toml"]
false_positives = "New team members exploring what they can see; tools probing capabilities at start-up."
remediation = "Ask {actor} about the activity from {source_ip}; if unexplained, revoke the credential."
bucket = "5m"
group_by = ["cluster", "actor", "source_ip"]
*/
SELECT array_agg(DISTINCT audit_id) AS audit_ids, min(event_time) AS event_time, cluster, actor, source_ip, min(user_agent) AS user_agent,
       min(verb) AS verb, min(obj_resource) AS obj_resource, CAST(NULL AS VARCHAR) AS obj_namespace, CAST(NULL AS VARCHAR) AS obj_name,
       count(DISTINCT request_uri) FILTER (WHERE authz_decision = 'forbid') AS denied_uris, date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket
FROM k8s_events
WHERE coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND verb IN ('get', 'list', 'watch', 'create', 'update', 'patch')
  AND actor_class IN ('human', 'service_account')
GROUP BY cluster, actor, source_ip, date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z')
HAVING count(DISTINCT request_uri) FILTER (WHERE authz_decision = 'forbid') > 5
   AND count(DISTINCT obj_resource) FILTER (WHERE authz_decision = 'forbid') > 3
   AND count(DISTINCT authz_decision) = 2
   AND count(*) < 75
