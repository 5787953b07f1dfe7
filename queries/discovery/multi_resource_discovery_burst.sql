/*
id = "multi_resource_discovery_burst"
title = "Reconnaissance across many resource types in a minute"
description = "One identity from one address and client listed or read three or more of namespaces, nodes, pods, roles, bindings, configmaps and service accounts within one minute: the first thing an intruder does with a new credential. Control-plane and cloud identities are excluded."
kind = "alert"
severity = "low"
attack = ["T1613", "T1087.004"]
tags = ["discovery"]
catalog = ["D61"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/discovery_kubernetes_multi_resource_setup_recon.toml"]
false_positives = "Engineers running kubectl get all / dashboards from a laptop; tune the user agent list."
remediation = "Confirm with {actor} that the activity from {source_ip} was theirs."
bucket = "1m"
group_by = ["cluster", "actor", "source_ip", "user_agent"]
*/
SELECT array_agg(audit_id) AS audit_ids, min(event_time) AS event_time, cluster, actor, source_ip, user_agent,
       min(verb) AS verb, min(obj_resource) AS obj_resource, CAST(NULL AS VARCHAR) AS obj_namespace, CAST(NULL AS VARCHAR) AS obj_name,
       cardinality(array_distinct(array_agg(obj_resource) FILTER (WHERE obj_resource IS NOT NULL))) AS resource_types, date_bin(INTERVAL '1 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z') AS bucket
FROM k8s_events
WHERE verb IN ('get', 'list')
  AND obj_resource IN ('namespaces', 'nodes', 'pods', 'roles', 'configmaps', 'serviceaccounts', 'clusterroles', 'clusterrolebindings', 'rolebindings')
  AND coalesce(source_ip_class, '') <> 'loopback'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:') AND actor_class <> 'node'
  AND coalesce(user_agent, '') NOT LIKE '%kubernetes/$Format'
GROUP BY cluster, actor, source_ip, user_agent, date_bin(INTERVAL '1 minutes', event_time, TIMESTAMP '1970-01-01T00:00:00Z')
HAVING cardinality(array_distinct(array_agg(obj_resource) FILTER (WHERE obj_resource IS NOT NULL))) >= 3
