/*
id = "port_forward"
title = "Port-forward into a pod"
description = "A port-forward tunnel was opened to a pod, exposing its ports on the caller's machine. It bypasses network policies and ingress controls."
kind = "duet"
severity = "low"
attack = ["T1572"]
tags = ["network"]
catalog = ["D19"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml"]
false_positives = "Developers reaching databases or dashboards for debugging."
first_action = "Did you expect {actor} to port-forward into pod {obj_namespace}/{obj_name}?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'pods' AND obj_subresource = 'portforward' AND coalesce(stage, 'ResponseStarted') = 'ResponseStarted' AND coalesce(response_code, 101) < 400
