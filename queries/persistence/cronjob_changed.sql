/*
id = "cronjob_changed"
title = "CronJob or Job created or modified"
description = "A CronJob or Job was created or changed by a person or workload identity (not a system controller in a system namespace). Scheduled jobs are a classic way to keep code running in a cluster."
kind = "duet"
severity = "medium"
attack = ["T1053.007"]
tags = ["workload"]
catalog = ["D23"]
references = ["https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_cronjob_modification.yml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_cron_job_created_or_modified.yml"]
false_positives = "Teams shipping batch workloads through CI."
first_action = "Did you expect {actor} to {verb} {obj_resource} {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource IN ('cronjobs', 'jobs')
  AND (obj_api_group = 'batch' OR coalesce(obj_api_version, '') LIKE 'batch/%' OR coalesce(request_uri, '') LIKE '/apis/batch/%') AND coalesce(obj_subresource, '') <> 'status'
  AND verb IN ('create', 'update', 'patch', 'delete') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND actor_class IN ('human', 'service_account', 'anonymous') AND NOT (actor_class IN ('system_component', 'cloud_system', 'node', 'service_account') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
  AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:')
