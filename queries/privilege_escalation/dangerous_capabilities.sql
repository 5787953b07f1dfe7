/*
id = "dangerous_capabilities"
title = "Container granted dangerous Linux capabilities"
description = "A container was given capabilities that defeat isolation (SYS_ADMIN, SYS_MODULE, SYS_PTRACE, SYS_RAWIO, SYS_BOOT, BPF, NET_ADMIN, DAC_READ_SEARCH, DAC_OVERRIDE, SYSLOG) outside kube-system."
kind = "duet"
severity = "high"
attack = ["T1611", "T1068"]
tags = ["pod-security"]
catalog = ["D38"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_pod_dangerous_capabilities.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_container_created_with_excessive_linux_capabilities.toml"]
false_positives = "Network and observability agents (NET_ADMIN, BPF); add their images to privileged_images."
first_action = "Did you expect {actor} to grant {capabilities} to {obj_resource} {obj_namespace}/{obj_name}?"
*/
SELECT *, array_to_string(added_capabilities, ', ') AS capabilities
FROM k8s_pod_writes
WHERE array_has_any(added_capabilities, make_array('SYS_ADMIN', 'SYS_MODULE', 'SYS_PTRACE', 'SYS_RAWIO', 'SYS_BOOT', 'BPF', 'NET_ADMIN', 'DAC_READ_SEARCH', 'DAC_OVERRIDE', 'SYSLOG'))
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images')) AND NOT (actor_class IN ('service_account', 'system_component', 'cloud_system', 'node') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
