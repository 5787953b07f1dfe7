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
-- Two levels. First per identity, bucket and decision, spread by endpoint only for denied requests
-- (so allowed traffic, most of it, folds into one group per identity and bucket); then per
-- identity, where the distinct counts run over denied endpoints instead of events. The evidence
-- is the denied requests.
SELECT flatten(array_agg(ids) FILTER (WHERE ids IS NOT NULL)) AS audit_ids, min(first_time) AS event_time, cluster, actor, source_ip, min(first_user_agent) AS user_agent,
       min(first_verb) AS verb, min(resource) AS obj_resource, CAST(NULL AS VARCHAR) AS obj_namespace, CAST(NULL AS VARCHAR) AS obj_name,
       count(denied_uri) AS denied_uris, bucket
FROM (
    SELECT cluster, actor, source_ip, date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket, authz_decision,
           CASE WHEN authz_decision = 'forbid' THEN request_uri END AS denied_uri,
           CASE WHEN authz_decision = 'forbid' THEN obj_resource END AS resource,
           array_agg(audit_id) FILTER (WHERE authz_decision = 'forbid') AS ids, min(event_time) AS first_time,
           min(user_agent) AS first_user_agent, min(verb) AS first_verb, count(*) AS events
    FROM k8s_events
    WHERE coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND verb IN ('get', 'list', 'watch', 'create', 'update', 'patch')
      AND actor_class IN ('human', 'service_account')
    GROUP BY cluster, actor, source_ip, date_bin(INTERVAL '5 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z'), authz_decision,
             CASE WHEN authz_decision = 'forbid' THEN request_uri END, CASE WHEN authz_decision = 'forbid' THEN obj_resource END
) AS per_endpoint
GROUP BY cluster, actor, source_ip, bucket
HAVING count(denied_uri) > 5
   AND cardinality(array_distinct(array_agg(resource) FILTER (WHERE resource IS NOT NULL))) > 3
   AND cardinality(array_distinct(array_agg(authz_decision) FILTER (WHERE authz_decision IS NOT NULL))) = 2
   AND sum(events) < 75
