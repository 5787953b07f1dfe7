/*
id = "service_external_ips"
title = "Service with externalIPs set (CVE-2020-8554 interception)"
description = "A Service created or changed with spec.externalIPs. Any user who can write Services can claim an external IP and intercept the cluster's traffic to it (CVE-2020-8554); most clusters never need the field, and the upstream advice is to block it with an admission policy."
kind = "alert"
severity = "high"
attack = ["T1557", "T1565.002"]
tags = ["network", "cve-2020-8554"]
catalog = []
references = ["https://github.com/kubernetes/kubernetes/issues/97076"]
false_positives = "Bare-metal clusters that route external IPs to Services on purpose; allow-list their actors or block the field with an admission policy."
remediation = "kubectl patch service -n {obj_namespace} {obj_name} --type=json -p '[{\"op\":\"remove\",\"path\":\"/spec/externalIPs\"}]' and restrict externalIPs with the DenyServiceExternalIPs admission plugin."
*/
SELECT *, json_get_json(request_object, 'spec', 'externalIPs') AS external_ips
FROM k8s_events
WHERE obj_resource = 'services' AND obj_subresource IS NULL
  AND verb IN ('create', 'update', 'patch')
  AND succeeded
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(json_length(request_object, 'spec', 'externalIPs'), 0) > 0
