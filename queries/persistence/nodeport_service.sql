/*
id = "nodeport_service"
title = "NodePort service exposed"
description = "A Service of type NodePort was created or changed: it opens a port on every node, often reachable from outside the cluster and bypassing load balancers and ingress controls."
kind = "duet"
severity = "medium"
attack = ["T1133", "T1190"]
tags = ["network"]
catalog = ["D31"]
references = ["https://github.com/falcosecurity/plugins/blob/main/plugins/k8saudit/rules/k8s_audit_rules.yaml", "https://github.com/panther-labs/panther-analysis/blob/main/rules/kubernetes_rules/k8s_service_nodeport_deployed.yml", "https://github.com/elastic/detection-rules/blob/main/rules/integrations/kubernetes/persistence_exposed_service_created_with_type_nodeport.toml"]
false_positives = "Clusters that expose services through NodePorts behind their own load balancers."
first_action = "Did you expect {actor} to expose service {obj_namespace}/{obj_name} on a port of every node?"
*/
SELECT *
FROM k8s_events
WHERE obj_resource = 'services' AND obj_subresource IS NULL AND verb IN ('create', 'update', 'patch') AND succeeded AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND json_get_str(request_object, 'spec', 'type') = 'NodePort'
