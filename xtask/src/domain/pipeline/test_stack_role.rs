//! The CloudFormation service role of test and smoke stacks. CloudFormation acts with
//! this role rather than the caller's credentials, so the ops agents only pass it and
//! never hold what creating the stacks takes (IAM roles among it). Its actions are the
//! permissions AWS's resource schemas give the create, read, update and delete handlers
//! of every resource type `ops/cfn/` uses; a test recomputes them from the schemas, so
//! a template that gains a resource type fails the suite until its actions are here.
//! The roles those templates make are held to a permissions boundary (`BOUNDED`), so
//! passing this role to CloudFormation cannot make a role that does more.

use serde::Serialize;

use super::queues::{allow, ec2_arns, objects, smoke_test_arns, Policy, Statement, SMOKE_TEST_SECRET};
use crate::domain::config::ReleaseConfig;

/// The handlers' permissions, as the schemas list them (the test prints this list
/// afresh when it differs).
pub const HANDLER_PERMISSIONS: &[&str] = &[
    "cloudformation:CreateStack",
    "cloudformation:DeleteStack",
    "cloudformation:DescribeStacks",
    "cloudformation:GetStackPolicy",
    "cloudformation:GetTemplate",
    "cloudformation:SetStackPolicy",
    "cloudformation:UpdateStack",
    "cloudformation:UpdateTerminationProtection",
    "ec2:AcceptAddressTransfer",
    "ec2:AllocateAddress",
    "ec2:AssignPrivateNatGatewayAddress",
    "ec2:AssociateAddress",
    "ec2:AssociateIamInstanceProfile",
    "ec2:AssociateNatGatewayAddress",
    "ec2:AssociateRouteTable",
    "ec2:AssociateSubnetCidrBlock",
    "ec2:AttachInternetGateway",
    "ec2:AttachVolume",
    "ec2:AttachVpnGateway",
    "ec2:AuthorizeSecurityGroupEgress",
    "ec2:AuthorizeSecurityGroupIngress",
    "ec2:CreateInternetGateway",
    "ec2:CreateNatGateway",
    "ec2:CreateRoute",
    "ec2:CreateRouteTable",
    "ec2:CreateSecurityGroup",
    "ec2:CreateSubnet",
    "ec2:CreateTags",
    "ec2:CreateVpc",
    "ec2:CreateVpcEndpoint",
    "ec2:DeleteInternetGateway",
    "ec2:DeleteNatGateway",
    "ec2:DeleteRoute",
    "ec2:DeleteRouteTable",
    "ec2:DeleteSecurityGroup",
    "ec2:DeleteSubnet",
    "ec2:DeleteTags",
    "ec2:DeleteVpc",
    "ec2:DeleteVpcEndpoints",
    "ec2:DescribeAddresses",
    "ec2:DescribeElasticGpus",
    "ec2:DescribeIamInstanceProfileAssociations",
    "ec2:DescribeInstanceAttribute",
    "ec2:DescribeInstanceCreditSpecifications",
    "ec2:DescribeInstances",
    "ec2:DescribeInternetGateways",
    "ec2:DescribeKeyPairs",
    "ec2:DescribeLaunchTemplateVersions",
    "ec2:DescribeLaunchTemplates",
    "ec2:DescribeNatGateways",
    "ec2:DescribeNetworkAcls",
    "ec2:DescribeNetworkInterfaces",
    "ec2:DescribeRouteTables",
    "ec2:DescribeSecurityGroups",
    "ec2:DescribeSubnets",
    "ec2:DescribeVolumes",
    "ec2:DescribeVpcAttribute",
    "ec2:DescribeVpcEndpoints",
    "ec2:DescribeVpcs",
    "ec2:DescribeVpnGateways",
    "ec2:DetachInternetGateway",
    "ec2:DetachVolume",
    "ec2:DetachVpnGateway",
    "ec2:DisassociateAddress",
    "ec2:DisassociateIamInstanceProfile",
    "ec2:DisassociateNatGatewayAddress",
    "ec2:DisassociateRouteTable",
    "ec2:DisassociateSubnetCidrBlock",
    "ec2:ModifyInstanceAttribute",
    "ec2:ModifyInstanceCreditSpecification",
    "ec2:ModifyInstanceMaintenanceOptions",
    "ec2:ModifyInstancePlacement",
    "ec2:ModifyPrivateDnsNameOptions",
    "ec2:ModifySubnetAttribute",
    "ec2:ModifyVpcAttribute",
    "ec2:ModifyVpcEndpoint",
    "ec2:ModifyVpcTenancy",
    "ec2:MonitorInstances",
    "ec2:ReleaseAddress",
    "ec2:ReplaceIamInstanceProfileAssociation",
    "ec2:ReplaceRoute",
    "ec2:ReplaceRouteTableAssociation",
    "ec2:RevokeSecurityGroupEgress",
    "ec2:RevokeSecurityGroupIngress",
    "ec2:RunInstances",
    "ec2:StartInstances",
    "ec2:StopInstances",
    "ec2:TerminateInstances",
    "ec2:UnassignPrivateNatGatewayAddress",
    "ec2:UnmonitorInstances",
    "elastic-inference:DescribeAccelerators",
    "iam:AddRoleToInstanceProfile",
    "iam:AttachRolePolicy",
    "iam:CreateInstanceProfile",
    "iam:CreateRole",
    "iam:DeleteGroupPolicy",
    "iam:DeleteInstanceProfile",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DeleteUserPolicy",
    "iam:DetachRolePolicy",
    "iam:GetGroupPolicy",
    "iam:GetInstanceProfile",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:GetUserPolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListRolePolicies",
    "iam:PassRole",
    "iam:PutGroupPolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:PutUserPolicy",
    "iam:RemoveRoleFromInstanceProfile",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
    "ssm:CreateAssociation",
    "ssm:DeleteAssociation",
    "ssm:DescribeAssociation",
    "ssm:ListAssociations",
];

/// Services the 2024 schemas still name that AWS has since retired (Elastic Inference
/// ended in 2024; IAM and cfn-lint no longer know its prefix): never granted.
pub const RETIRED_SERVICES: &[&str] = &["elastic-inference:"];

/// Role-changing actions granted only for roles that carry the instance boundary
/// (`iam:PermissionsBoundary`): a template passed to CloudFormation with this role can
/// make roles, but none that may do more than the boundary allows.
pub const BOUNDED: &[&str] = &[
    "iam:AttachRolePolicy",
    "iam:CreateRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
];

/// Handler permissions never granted. Removing a boundary would undo `BOUNDED` (test
/// stacks are created and deleted, never updated, so no handler needs it); the group
/// and user policy actions of AWS::IAM::Policy serve templates that attach policies to
/// groups or users, and ours attach them to roles only.
pub const WITHHELD: &[&str] = &[
    "iam:DeleteGroupPolicy",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteUserPolicy",
    "iam:GetGroupPolicy",
    "iam:GetUserPolicy",
    "iam:PutGroupPolicy",
    "iam:PutUserPolicy",
];

/// The boundary every role a test stack makes must carry (`RolePermissionsBoundary` of
/// the templates; the test-stack script passes it): what the instances' UserData calls.
pub fn instance_boundary_name(config: &ReleaseConfig) -> String {
    format!("{}-instance-boundary", config.test_stack_role)
}

/// It names what a test stack's instances may reach: their own stacks, the smoke test's
/// upstream secret, and a KMS key to read it with (the secret's key is the customer's
/// choice, so any key of the account).
pub fn instance_boundary() -> Policy {
    Policy {
        version: "2012-10-17",
        statement: vec![
            allow(
                "SignalTheTestStacks",
                &["cloudformation:SignalResource"],
                &smoke_test_arns("arn:aws:cloudformation:*:*:stack/", "*/*"),
            ),
            allow(
                "ReadTheUpstreamSecret",
                &["secretsmanager:GetSecretValue"],
                // Secrets Manager appends six random characters to a secret's ARN.
                &[format!("arn:aws:secretsmanager:*:*:secret:{SMOKE_TEST_SECRET}-??????")],
            ),
            allow("DecryptTheUpstreamSecret", &["kms:Decrypt"], &["arn:aws:kms:*:*:key/*"]),
        ],
    }
}

/// What the role needs beyond the handlers: nested stacks' templates are read from the
/// internal bucket with the role's credentials.
pub const BEYOND_THE_HANDLERS: &[&str] = &["s3:GetObject"];

/// The EC2 resource types the test stacks make or use: the network (VPC, subnets, route
/// tables, gateways, the NAT gateway's address, endpoints), the instances with their
/// volumes, network interfaces, images and key pairs, and security groups with their
/// rules. Every resource type a handler's call requires is among them (a test reads
/// AWS's Service Authorization Reference as the IAM analyser ships it).
const TEST_STACK_EC2_TYPES: &[&str] = &[
    "elastic-ip",
    "image",
    "instance",
    "internet-gateway",
    "key-pair",
    "natgateway",
    "network-interface",
    "route-table",
    "security-group",
    "security-group-rule",
    "subnet",
    "volume",
    "vpc",
    "vpc-endpoint",
    "vpn-gateway",
];

/// What SSM's association calls act on (with the instances of `TEST_STACK_EC2_TYPES`).
const SSM_TYPES: &[&str] = &["association", "document"];

/// The handlers' reads that AWS's Service Authorization Reference lists with no resource
/// type: EC2's Describe calls but those of one resource's attributes, and SSM's
/// ListAssociations (a test checks each).
fn takes_no_resource(action: &str) -> bool {
    (action.starts_with("ec2:Describe") && !action.ends_with("Attribute")) || action == "ssm:ListAssociations"
}

/// The permissions policy of `test-stack-role`.
pub fn policy(config: &ReleaseConfig) -> Policy {
    let of = |service: &str| -> Vec<&str> {
        HANDLER_PERMISSIONS
            .iter()
            .copied()
            .filter(|action| action.starts_with(service) && *action != "iam:PassRole")
            .filter(|action| !RETIRED_SERVICES.iter().any(|retired| action.starts_with(retired)))
            .filter(|action| !WITHHELD.contains(action))
            .collect()
    };
    let (bounded, free): (Vec<&str>, Vec<&str>) = of("iam:").into_iter().partition(|action| BOUNDED.contains(action));
    let boundary = format!("arn:aws:iam::*:policy/{}", instance_boundary_name(config));
    let mut instance_roles = smoke_test_arns("arn:aws:iam::*:role/", "*");
    instance_roles.extend(smoke_test_arns("arn:aws:iam::*:instance-profile/", "*"));
    let (ec2_reads, ec2_calls): (Vec<&str>, Vec<&str>) = of("ec2:").into_iter().partition(|a| takes_no_resource(a));
    let (ssm_reads, ssm_calls): (Vec<&str>, Vec<&str>) = of("ssm:").into_iter().partition(|a| takes_no_resource(a));
    let mut associations: Vec<String> = SSM_TYPES.iter().map(|kind| format!("arn:aws:ssm:*:*:{kind}/*")).collect();
    associations.extend(ec2_arns(&["instance"]));
    let statement = vec![
        // These reads take no resource.
        allow("TestStackReads", &[ec2_reads, ssm_reads].concat(), &["*"]),
        allow("TestStackNetworksAndInstances", &ec2_calls, &ec2_arns(TEST_STACK_EC2_TYPES)),
        allow("TestStackInstanceAssociations", &ssm_calls, &associations),
        allow(
            "TestStackNestedStacks",
            &of("cloudformation:"),
            &smoke_test_arns("arn:aws:cloudformation:*:*:stack/", "*/*"),
        ),
        allow("TestStackInstanceRoles", &free, &instance_roles),
        Statement {
            condition: Some(serde_json::json!({ "StringLike": { "iam:PermissionsBoundary": boundary } })),
            ..allow("TestStackInstanceRolesWithinTheBoundary", &bounded, &smoke_test_arns("arn:aws:iam::*:role/", "*"))
        },
        Statement {
            condition: Some(serde_json::json!({ "StringEquals": { "iam:PassedToService": "ec2.amazonaws.com" } })),
            ..allow(
                "PassInstanceRolesToTestInstances",
                &["iam:PassRole"],
                &smoke_test_arns("arn:aws:iam::*:role/", "*"),
            )
        },
        allow("ReadNestedTemplates", BEYOND_THE_HANDLERS, &[objects(&config.cfn_internal_bucket, "*")]),
    ];
    Policy { version: "2012-10-17", statement }
}

/// Who may assume the role: CloudFormation only.
pub fn trust_policy() -> TrustPolicy {
    TrustPolicy {
        version: "2012-10-17",
        statement: vec![TrustStatement {
            effect: "Allow",
            principal: Principal { service: "cloudformation.amazonaws.com" },
            action: "sts:AssumeRole",
        }],
    }
}

/// A role's trust policy, its fields in the order the IAM console shows them.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrustPolicy {
    pub version: &'static str,
    pub statement: Vec<TrustStatement>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TrustStatement {
    pub effect: &'static str,
    pub principal: Principal,
    pub action: &'static str,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct Principal {
    pub service: &'static str,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_handler_permission_is_granted_once_and_nothing_else() {
        let config = ReleaseConfig::from_workspace_manifest(include_str!("../../../../Cargo.toml")).unwrap();
        let mut granted: Vec<String> = policy(&config).statement.into_iter().flat_map(|s| s.action).collect();
        granted.sort();
        let current = HANDLER_PERMISSIONS
            .iter()
            .filter(|a| !RETIRED_SERVICES.iter().any(|r| a.starts_with(r)))
            .filter(|a| !WITHHELD.contains(a));
        let mut expected: Vec<String> = current.chain(BEYOND_THE_HANDLERS).map(|a| a.to_string()).collect();
        expected.sort();
        assert_eq!(granted, expected);
    }
}
