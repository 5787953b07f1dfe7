/*
id = "ingress_without_tls"
title = "Ingress created without TLS"
description = "An Ingress was created without a tls section, so its hosts are served over plain HTTP. A policy violation the customer should confirm."
kind = "duet"
severity = "low"
attack = ["T1040", "T1557"]
tags = ["network"]
catalog = ["D32"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_ingress_no_tls.yml"]
false_positives = "Internal-only ingresses and HTTP-to-HTTPS redirect hosts."
first_action = "Did you expect {actor} to publish ingress {obj_namespace}/{obj_name} without TLS?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'ingresses' AND obj_subresource IS NULL AND verb = 'create' AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND request_object IS NOT NULL AND json_get_json(request_object, 'spec', 'tls') IS NULL
  AND coalesce(obj_namespace, '') NOT IN (SELECT value FROM allowlist WHERE list = 'system_namespaces')
