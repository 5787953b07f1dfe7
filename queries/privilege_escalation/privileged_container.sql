/*
id = "privileged_container"
title = "Privileged container started"
description = "A pod or workload template with a privileged container was created or changed. A privileged container has every capability and the host's devices: escaping to the node is one command away. Images allow-listed in privileged_images (CNI, kube-proxy, CSI drivers) and system controllers in system namespaces are not asked about."
kind = "duet"
severity = "high"
attack = ["T1611", "T1610"]
tags = ["pod-security"]
catalog = ["D33"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_privileged_pod_created.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_privileged_pod_created.toml"]
false_positives = "Node agents (monitoring, security, storage) run privileged by design; add their images to privileged_images."
first_action = "Did you expect {actor} to run a privileged container in {obj_resource} {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_pod_writes
WHERE privileged
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images'))
  AND NOT (actor_class IN ('service_account', 'system_component', 'cloud_system', 'node') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
