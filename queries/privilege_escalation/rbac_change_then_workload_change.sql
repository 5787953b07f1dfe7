/*
id = "rbac_change_then_workload_change"
title = "RBAC change followed by a workload change by the same identity"
description = "An identity changed a Role or ClusterRole and, within five minutes, created or patched a DaemonSet, Deployment or CronJob: granting itself rights and then using them to run code. Event-time based, so the pair is found whichever run windows the two events land in."
kind = "alert"
severity = "high"
attack = ["T1098.006", "T1610"]
tags = ["rbac", "sequence"]
catalog = ["D50"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_sensitive_rbac_change_followed_by_workload_modification.toml"]
false_positives = "Platform pipelines that roll out RBAC and workloads together; their identities belong in platform_rbac_admins (system:masters members are excluded, as in the original)."
remediation = "Review both changes by {actor}: revert the role change and the workload {obj_namespace}/{obj_name} unless they were a planned rollout."
span = "5m"
*/
SELECT make_array(r.audit_id, w.audit_id) AS audit_ids, w.event_time, w.cluster, w.actor, w.source_ip, w.user_agent,
       w.verb, w.obj_resource, w.obj_namespace, w.obj_name, r.obj_resource AS rbac_resource, r.obj_name AS rbac_name
FROM k8s_events r
JOIN k8s_events w
  ON w.cluster = r.cluster AND w.actor = r.actor
 AND w.event_time >= r.event_time AND w.event_time <= r.event_time + INTERVAL '5 minutes'
WHERE r.obj_resource IN ('roles', 'clusterroles') AND r.verb IN ('create', 'update', 'patch')
  AND r.authz_decision = 'allow' AND coalesce(r.stage, 'ResponseComplete') = 'ResponseComplete'
  AND w.obj_resource IN ('daemonsets', 'deployments', 'cronjobs') AND w.verb IN ('create', 'patch')
  AND w.authz_decision = 'allow' AND coalesce(w.stage, 'ResponseComplete') = 'ResponseComplete'
  AND NOT array_has(coalesce(w.user_groups, make_array('')), 'system:masters')
  AND r.actor_class IN ('human', 'service_account')
  AND r.actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
