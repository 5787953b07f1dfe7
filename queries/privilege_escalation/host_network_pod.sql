/*
id = "host_network_pod"
title = "Pod on the node's network (hostNetwork)"
description = "A pod or workload template with hostNetwork: true was created or changed. It can sniff node traffic, reach the kubelet and the cloud metadata service, and bind node ports. Images allow-listed in privileged_images and system controllers in system namespaces are not asked about."
kind = "duet"
severity = "medium"
attack = ["T1611", "T1557"]
tags = ["pod-security"]
catalog = ["D36"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/"]
false_positives = "Node agents and CNI plugins; add their images to privileged_images."
first_action = "Did you expect {actor} to run {obj_resource} {obj_namespace}/{obj_name} with host_network?"
*/
SELECT *
FROM k8s_pod_writes
WHERE host_network AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images')) AND NOT (actor_class IN ('service_account', 'system_component', 'cloud_system', 'node') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
