/*
id = "anonymous_access_from_internet"
title = "API server reached anonymously from the internet"
description = "An unauthenticated request reached the API server from a public address, whatever RBAC decided. The endpoint is exposed to the internet (EKS public endpoint open to 0.0.0.0/0, AKS without authorized IP ranges): scanners will find it and every future RBAC mistake becomes exploitable."
kind = "alert"
severity = "low"
attack = ["T1190", "T1595.002"]
tags = ["exposure"]
catalog = ["D01"]
references = ["https://github.com/panther-labs/panther-analysis/blob/main/rules/aws_eks_rules/anonymous_api_access.yml"]
false_positives = "Clusters deliberately serving a public endpoint to anyone (rare); health checks from the load balancer's private addresses are not public and are not flagged."
remediation = "Restrict the API endpoint: EKS publicAccessCidrs or private endpoint only; AKS --api-server-authorized-ip-ranges. Source seen: {source_ip}."
suppress_by = ["cluster", "source_ip"]
suppress_for = "1h"
*/
SELECT *
FROM k8s_events
WHERE (actor IS NULL OR actor IN ('', 'system:anonymous', 'system:unauthenticated') OR array_has(coalesce(user_groups, make_array('')), 'system:unauthenticated'))
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND source_ip_class = 'public'
  AND k8s_ip_class(source_ips[CAST(cardinality(source_ips) AS BIGINT)]) = 'public'
