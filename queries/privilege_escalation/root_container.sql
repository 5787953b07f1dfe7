/*
id = "root_container"
title = "Container explicitly set to run as root"
description = "A pod or workload template sets runAsUser: 0 or runAsNonRoot: false. Root in the container makes every escape easier and breaks the restricted Pod Security Standard. Panther counts this with privileged pods; it is a separate question here because it is common and less severe."
kind = "duet"
severity = "low"
attack = ["T1611", "T1548"]
tags = ["pod-security"]
catalog = ["D33"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_privileged_pod_created.yml"]
false_positives = "Legacy images that need root; prefer fixing the image, or allow-list it in privileged_images."
first_action = "Did you expect {actor} to run {obj_resource} {obj_namespace}/{obj_name} as root?"
*/
SELECT *
FROM k8s_pod_writes
WHERE run_as_root
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images'))
  AND NOT (actor_class IN ('service_account', 'system_component', 'cloud_system', 'node') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
