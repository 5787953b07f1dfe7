/*
id = "recon_tool_user_agent"
title = "Recon or secret-scanning tool user agent"
description = "A request came from a known reconnaissance or secret-scanning tool (rakkess/access-matrix, trufflehog, azurehound, micro-scanner, kube-hunter, peirates, kubescape scan from outside). (Fixes Sigma 597a7e84, which cannot match.)"
kind = "alert"
severity = "medium"
attack = ["T1613", "T1595.002"]
tags = ["discovery"]
catalog = ["D62"]
references = ["https://github.com/SigmaHQ/sigma/tree/master/rules/application/kubernetes/audit/kubernetes_audit_potential_enumeration_activity.yml"]
false_positives = "Sanctioned security assessments; add the assessor's identity to platform_rbac_admins for the duration."
remediation = "Identify who ran the tool from {source_ip} as {actor}; if not sanctioned, revoke the credential."
suppress_by = ["cluster", "actor", "user_agent"]
suppress_for = "1h"
*/
SELECT *
FROM k8s_events
WHERE coalesce(user_agent, '') ~* '(access.?matrix|rakkess|trufflehog|azurehound|micro-scanner|kube-hunter|peirates|kubeletctl|cdk/)'
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'platform_rbac_admins')
