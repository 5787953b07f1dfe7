/*
id = "daemonset_created"
title = "DaemonSet created"
description = "A DaemonSet was created: it runs a pod on every node, the widest possible footprint for persistence or a miner. Platform identities acting in system namespaces are excluded."
kind = "duet"
severity = "medium"
attack = ["T1610", "T1543"]
tags = ["workload"]
catalog = ["D24"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_daemonset_created.yml"]
false_positives = "Installing node agents (monitoring, logging, security)."
first_action = "Did you expect {actor} to create DaemonSet {obj_namespace}/{obj_name} (runs on every node)?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'daemonsets' AND verb = 'create' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND NOT (actor_class IN ('system_component', 'cloud_system', 'node', 'service_account') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
