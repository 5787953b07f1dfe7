/*
id = "workload_identity_annotation_changed"
title = "Cloud identity bound to a service account (IRSA / workload identity)"
description = "A ServiceAccount created or changed with the annotation that hands its pods a cloud identity: EKS IRSA (eks.amazonaws.com/role-arn) or Azure workload identity (azure.workload.identity/client-id). Pointing a service account an intruder controls at a privileged cloud role turns cluster access into cloud access."
kind = "duet"
severity = "high"
attack = ["T1098.001", "T1078.004"]
tags = ["cloud-identity", "irsa", "workload-identity"]
catalog = []
references = ["https://docs.aws.amazon.com/eks/latest/userguide/iam-roles-for-service-accounts.html", "https://azure.github.io/azure-workload-identity/docs/"]
false_positives = "Platform pipelines that provision service accounts for new workloads; expected when the role matches the workload."
first_action = "Did you expect {actor} to give service account {obj_namespace}/{obj_name} the cloud identity {cloud_identity}?"
*/
SELECT *,
       coalesce(json_get_str(request_object, 'metadata', 'annotations', 'eks.amazonaws.com/role-arn'),
                json_get_str(request_object, 'metadata', 'annotations', 'azure.workload.identity/client-id')) AS cloud_identity
FROM k8s_events
WHERE obj_resource = 'serviceaccounts' AND obj_subresource IS NULL
  AND verb IN ('create', 'update', 'patch')
  AND succeeded
  AND coalesce(stage, 'ResponseComplete') = 'ResponseComplete'
  AND coalesce(json_get_str(request_object, 'metadata', 'annotations', 'eks.amazonaws.com/role-arn'),
               json_get_str(request_object, 'metadata', 'annotations', 'azure.workload.identity/client-id')) IS NOT NULL
  AND actor NOT IN (SELECT value FROM allowlist WHERE list = 'cloud_system_users')
