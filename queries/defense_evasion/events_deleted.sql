/*
id = "events_deleted"
title = "Kubernetes events deleted"
description = "Kubernetes Event objects were deleted by a person or workload. Events record what happened to pods and nodes; deleting them hides activity."
kind = "alert"
severity = "medium"
attack = ["T1070"]
tags = ["anti-forensics"]
catalog = ["D63"]
references = ["https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_events_deleted.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/defense_evasion_events_deleted.toml"]
false_positives = "Garbage collection by the API server (TTL) does not produce delete requests; namespace deletion by the namespace controller is excluded."
remediation = "Find what {actor} was hiding in namespace {obj_namespace}: check other activity by {actor} around {event_time}."
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'events' AND verb IN ('delete', 'deletecollection') AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(response_code, 200) < 400 AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
