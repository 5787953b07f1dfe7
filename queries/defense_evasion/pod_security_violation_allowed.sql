/*
id = "pod_security_violation_allowed"
title = "Workload admitted despite Pod Security violations"
description = "The API server admitted a pod or workload whose spec violates the namespace's Pod Security Standard in audit or warn mode (annotation pod-security.kubernetes.io/audit-violations). No public rule reads this annotation; it is the cluster's own verdict that a workload breaks policy, which the customer should confirm."
kind = "duet"
severity = "medium"
attack = ["T1610", "T1611"]
tags = ["pod-security", "policy"]
catalog = []
references = ["https://kubernetes.io/docs/concepts/security/pod-security-admission/"]
false_positives = "Namespaces deliberately labelled audit/warn while workloads are migrated; add them to the system_namespaces allow-list or enforce the standard."
first_action = "Did you expect {actor} to run {obj_resource} {obj_namespace}/{obj_name} although it violates the namespace's Pod Security policy?"
*/
SELECT *, annotations['pod-security.kubernetes.io/audit-violations'] AS violations
FROM k8s_events
WHERE annotations['pod-security.kubernetes.io/audit-violations'] IS NOT NULL
  AND verb IN ('create', 'update', 'patch')
  AND succeeded
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(obj_namespace, '') NOT IN (SELECT value FROM allowlist WHERE list = 'system_namespaces')
