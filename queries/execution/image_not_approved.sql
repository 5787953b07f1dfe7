/*
id = "image_not_approved"
title = "Workload image from an unapproved registry"
description = "A pod or workload uses an image outside the deployment's approved_images allow-list (LIKE patterns, e.g. registry.example.com/%). Off by default: with an empty allow-list no hit is produced; list your registries to turn it on."
kind = "duet"
severity = "medium"
attack = ["T1610", "T1204.003"]
tags = ["supply-chain"]
catalog = ["D22"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/splunk/security_content/blob/develop/detections/cloud/kubernetes_suspicious_image_pulling.yml"]
false_positives = "New third-party images introduced by teams; add their registry to approved_images."
first_action = "Did you expect {actor} to run image(s) {image_list} in {obj_resource} {obj_namespace}/{obj_name}?"
*/
SELECT *, array_to_string(images, ', ') AS image_list
FROM k8s_pod_writes
WHERE cardinality(images) > 0
  AND (SELECT count(*) FROM allowlist WHERE list = 'approved_images') > 0
  AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'approved_images'))
  AND NOT k8s_all_like(images, (SELECT array_agg(value) FROM allowlist WHERE list = 'privileged_images'))
  AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete' AND NOT (actor_class IN ('system_component', 'cloud_system', 'node', 'service_account') AND obj_namespace IN (SELECT value FROM allowlist WHERE list = 'system_namespaces'))
