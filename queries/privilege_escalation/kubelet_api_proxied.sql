/*
id = "kubelet_api_proxied"
title = "Kubelet API reached through the API server (nodes/proxy)"
description = "A request went through the API server's node proxy to a kubelet for something other than metrics and health. It gives exec and log access to every pod on the node, and kubelet actions are not in the audit log."
kind = "alert"
severity = "high"
attack = ["T1611", "T1550.001", "T1613"]
tags = ["nodes"]
catalog = ["D51"]
references = ["https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/privilege_escalation_api_proxy_to_node.toml"]
false_positives = "Monitoring that scrapes through the proxy (metrics/stats paths are excluded)."
remediation = "Remove nodes/proxy from {actor}'s roles and investigate the node {obj_name}."
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'nodes' AND obj_subresource = 'proxy'
  AND coalesce(request_uri, '') !~ '(metrics|healthz|stats|summary|configz|spec)'
  AND actor_class NOT IN ('system_component', 'cloud_system', 'node') AND NOT starts_with(coalesce(actor, ''), 'system:serviceaccount:kube-system:') AND coalesce(response_code, 200) < 400
