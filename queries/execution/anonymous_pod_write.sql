/*
id = "anonymous_pod_write"
title = "Anonymous user creates or changes a pod"
description = "A pod was created, updated or patched by an unauthenticated client. Anonymous users should never be able to start workloads; this is the pattern of crypto-mining campaigns that find API servers with anonymous write access."
kind = "alert"
severity = "critical"
attack = ["T1610", "T1078.001"]
tags = ["anonymous"]
catalog = ["D02"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/execution_anonymous_create_update_patch_pod_request.toml"]
false_positives = "None expected: no legitimate client writes pods anonymously."
remediation = "Delete the pod (kubectl delete pod -n {obj_namespace} {obj_name}), remove every RBAC binding that grants system:anonymous or system:unauthenticated, and check for other workloads from {source_ip}."
*/
SELECT *
FROM k8s_events
WHERE (actor IS NULL OR actor IN ('', 'system:anonymous', 'system:unauthenticated') OR array_has(coalesce(user_groups, make_array('')), 'system:unauthenticated'))
  AND obj_resource = 'pods' AND obj_subresource IS NULL
  AND verb IN ('create', 'update', 'patch')
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(authz_decision, 'allow') = 'allow'
