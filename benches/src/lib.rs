//! Deterministic generators for benchmarks: a realistic CloudTrail event mix and alert sets.

use std::fmt::Write;

/// A small deterministic PRNG (xorshift64*), so every run benchmarks the same corpus.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }
    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        let i = self.below(xs.len());
        xs.get(i).unwrap_or_else(|| unreachable_first(xs))
    }
}

fn unreachable_first<T>(xs: &[T]) -> &T {
    #[expect(clippy::indexing_slicing, reason = "callers pass non-empty slices")]
    &xs[0]
}

const CALLS: &[(&str, &str, bool)] = &[
    ("ec2", "DescribeInstances", true),
    ("ec2", "DescribeSecurityGroups", true),
    ("ec2", "DescribeVolumes", true),
    ("ec2", "RunInstances", false),
    ("ec2", "AuthorizeSecurityGroupIngress", false),
    ("ec2", "CreateTags", false),
    ("s3", "GetBucketLocation", true),
    ("s3", "ListBuckets", true),
    ("s3", "GetBucketAcl", true),
    ("s3", "PutBucketPolicy", false),
    ("iam", "ListUsers", true),
    ("iam", "GetRole", true),
    ("iam", "CreateUser", false),
    ("iam", "AttachRolePolicy", false),
    ("sts", "AssumeRole", true),
    ("sts", "GetCallerIdentity", true),
    ("kms", "Decrypt", true),
    ("kms", "GenerateDataKey", true),
    ("lambda", "ListFunctions20150331", true),
    ("lambda", "UpdateFunctionCode20150331v2", false),
    ("logs", "CreateLogStream", false),
    ("cloudtrail", "LookupEvents", true),
    ("secretsmanager", "GetSecretValue", true),
    ("ssm", "GetParameter", true),
    ("signin", "ConsoleLogin", false),
    ("monitoring", "PutMetricData", false),
    ("config", "PutEvaluations", false),
];
const REGIONS: &[&str] = &[
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-2",
];
const USERS: &[&str] = &[
    "alice",
    "bob",
    "carol",
    "dave",
    "ci-bot",
    "terraform",
    "backup-svc",
];
const ROLES: &[&str] = &[
    "Admin",
    "ReadOnly",
    "CiDeploy",
    "LambdaExec",
    "EksNode",
    "aws-service-role/AWSServiceRoleForECS",
];

/// One realistic CloudTrail record (1–3 KB), as JSON text.
/// Which calls the generator favours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mix {
    /// Every call equally likely, 8% errors, 2.5% root: about one event in five fires a CIS
    /// alert. A stress mix: far more alert-worthy activity than a real account.
    AlertHeavy,
    /// Weighted like a production account's management events (an assumption, see
    /// benches/README.md): reads 94%, routine writes 6%, security-relevant changes and console
    /// sign-ins 0.5%, 2% errors, root 0.1%.
    Production,
}

impl Mix {
    /// `alert-heavy` or `production`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "alert-heavy" => Some(Self::AlertHeavy),
            "production" => Some(Self::Production),
            _ => None,
        }
    }
}

/// Calls a CIS alert watches (weight 1 in the production mix).
const SENSITIVE: &[&str] = &[
    "AuthorizeSecurityGroupIngress",
    "PutBucketPolicy",
    "CreateUser",
    "AttachRolePolicy",
    "ConsoleLogin",
];

fn pick_call(rng: &mut Rng, mix: Mix) -> (&'static str, &'static str, bool) {
    if mix == Mix::AlertHeavy {
        return *rng.pick(CALLS);
    }
    let weight = |&(_, name, read_only): &(&str, &str, bool)| -> usize {
        if read_only {
            60
        } else if SENSITIVE.contains(&name) {
            1
        } else {
            10
        }
    };
    let total: usize = CALLS.iter().map(weight).sum();
    let mut x = rng.below(total);
    for c in CALLS {
        let w = weight(c);
        if x < w {
            return *c;
        }
        x -= w;
    }
    *rng.pick(CALLS)
}

/// One event of the alert-heavy mix (see [`event_of`]).
pub fn event(rng: &mut Rng, i: usize) -> String {
    event_of(rng, i, Mix::AlertHeavy)
}

/// One generated event, the `i`th of its corpus (ids and times derive from `i`).
pub fn event_of(rng: &mut Rng, i: usize, mix: Mix) -> String {
    let (svc, name, read_only) = pick_call(rng, mix);
    let region = rng.pick(REGIONS);
    let t = 1_700_000_000 + i as u64 / 4;
    let (h, m, s) = ((t / 3600) % 24, (t / 60) % 60, t % 60);
    let day = 14 + (t - 1_700_000_000) / 86_400;
    let mut e = String::with_capacity(2048);
    let _ = write!(e, r#"{{"eventVersion":"1.09","userIdentity":"#);
    match rng.below(10) {
        0..=3 => {
            let u = rng.pick(USERS);
            let _ = write!(
                e,
                r#"{{"type":"IAMUser","principalId":"AIDA{i:016X}","arn":"arn:aws:iam::111122223333:user/{u}","accountId":"111122223333","accessKeyId":"AKIA{i:016X}","userName":"{u}"}}"#
            );
        }
        4..=8 => {
            let r = rng.pick(ROLES);
            let short = r.rsplit('/').next().unwrap_or(r);
            let _ = write!(
                e,
                r#"{{"type":"AssumedRole","principalId":"AROA{i:012X}:session-{i}","arn":"arn:aws:sts::111122223333:assumed-role/{short}/session-{i}","accountId":"111122223333","accessKeyId":"ASIA{i:016X}","sessionContext":{{"sessionIssuer":{{"type":"Role","principalId":"AROA{i:012X}","arn":"arn:aws:iam::111122223333:role/{r}","accountId":"111122223333","userName":"{short}"}},"webIdFederationData":{{}},"attributes":{{"creationDate":"2023-11-14T10:00:00Z","mfaAuthenticated":"false"}}}}}}"#
            );
        }
        _ => {
            let root = match mix {
                Mix::AlertHeavy => rng.below(4) == 0,
                Mix::Production => rng.below(100) == 0,
            };
            if root {
                let _ = write!(
                    e,
                    r#"{{"type":"Root","principalId":"111122223333","arn":"arn:aws:iam::111122223333:root","accountId":"111122223333"}}"#
                );
            } else {
                let _ = write!(
                    e,
                    r#"{{"type":"AWSService","invokedBy":"{svc}.amazonaws.com"}}"#
                );
            }
        }
    }
    let ip = match rng.below(5) {
        0 => format!("{svc}.amazonaws.com"),
        1 => "AWS Internal".to_owned(),
        2 => format!("2001:db8::{:x}", rng.below(65_535)),
        _ => format!(
            "{}.{}.{}.{}",
            1 + rng.below(223),
            rng.below(256),
            rng.below(256),
            rng.below(256)
        ),
    };
    let _ = write!(
        e,
        r#","eventTime":"2023-11-{day:02}T{h:02}:{m:02}:{s:02}Z","eventSource":"{svc}.amazonaws.com","eventName":"{name}","awsRegion":"{region}","sourceIPAddress":"{ip}","userAgent":"aws-cli/2.13.5 Python/3.11.4 Linux/5.15.0-1045-aws exe/x86_64.ubuntu.22 prompt/off command/{svc}.{name}""#
    );
    let errors = match mix {
        Mix::AlertHeavy => 8,
        Mix::Production => 2,
    };
    if rng.below(100) < errors {
        let code = if svc == "ec2" {
            "Client.UnauthorizedOperation"
        } else {
            "AccessDenied"
        };
        let _ = write!(
            e,
            r#","errorCode":"{code}","errorMessage":"User: arn:aws:iam::111122223333:user/x is not authorized to perform: {svc}:{name} because no identity-based policy allows the action""#
        );
    }
    match name {
        "AuthorizeSecurityGroupIngress" => {
            let cidr = if rng.below(3) == 0 {
                "0.0.0.0/0"
            } else {
                "10.0.0.0/16"
            };
            let _ = write!(
                e,
                r#","requestParameters":{{"groupId":"sg-{i:017x}","ipPermissions":{{"items":[{{"ipProtocol":"tcp","fromPort":22,"toPort":22,"groups":{{}},"ipRanges":{{"items":[{{"cidrIp":"{cidr}"}}]}},"ipv6Ranges":{{}},"prefixListIds":{{}}}}]}}}},"responseElements":{{"requestId":"r-{i}","_return":true}}"#
            );
        }
        "RunInstances" => {
            let _ = write!(
                e,
                r#","requestParameters":{{"instancesSet":{{"items":[{{"imageId":"ami-0abcdef1234567890","minCount":1,"maxCount":1}}]}},"instanceType":"{}","blockDeviceMapping":{{}},"monitoring":{{"enabled":false}},"disableApiTermination":false,"clientToken":"tok-{i}"}},"responseElements":{{"reservationId":"r-{i:017x}","ownerId":"111122223333","instancesSet":{{"items":[{{"instanceId":"i-{i:017x}","imageId":"ami-0abcdef1234567890","instanceState":{{"code":0,"name":"pending"}},"privateDnsName":"ip-10-0-1-{}.ec2.internal","amiLaunchIndex":0,"productCodes":{{}},"instanceType":"t3.micro","placement":{{"availabilityZone":"{region}a","tenancy":"default"}}}}]}}}}"#,
                if rng.below(20) == 0 {
                    "p4d.24xlarge"
                } else {
                    "t3.micro"
                },
                rng.below(255)
            );
        }
        "ConsoleLogin" => {
            let mfa = if rng.below(3) == 0 { "No" } else { "Yes" };
            let _ = write!(
                e,
                r#","requestParameters":null,"responseElements":{{"ConsoleLogin":"Success"}},"additionalEventData":{{"LoginTo":"https://console.aws.amazon.com/console/home","MobileVersion":"No","MFAUsed":"{mfa}"}}"#
            );
        }
        _ => {
            let _ = write!(
                e,
                r#","requestParameters":{{"bucketName":"bucket-{}","Host":"bucket-{}.s3.{region}.amazonaws.com","maxResults":100,"filters":[{{"name":"tag:env","values":["prod","staging"]}}]}},"responseElements":null"#,
                rng.below(50),
                rng.below(50)
            );
        }
    }
    let _ = write!(
        e,
        r#","requestID":"{:016x}-{:08x}","eventID":"{:016x}-{:016x}","readOnly":{read_only},"resources":[{{"accountId":"111122223333","type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::bucket-{}"}}],"eventType":"AwsApiCall","managementEvent":true,"recipientAccountId":"111122223333","eventCategory":"Management","tlsDetails":{{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":"{svc}.{region}.amazonaws.com"}}}}"#,
        rng.next_u64(),
        i,
        rng.next_u64(),
        rng.next_u64(),
        rng.below(50)
    );
    e
}

/// `n` events of the alert-heavy mix, deterministic for a given seed.
pub fn events(n: usize, seed: u64) -> Vec<String> {
    events_of(n, seed, Mix::AlertHeavy)
}

/// `n` events of `mix`, deterministic for a given seed.
pub fn events_of(n: usize, seed: u64, mix: Mix) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n).map(|i| event_of(&mut rng, i, mix)).collect()
}

/// `n` custom alerts in a realistic mix: literal event lists, wildcards, user globs, CIDRs,
/// request parameters, response filters, patterns and thresholds.
pub fn custom_alerts(n: usize, seed: u64) -> String {
    let calls: Vec<(&str, &str)> = CALLS.iter().map(|c| (c.0, c.1)).collect();
    custom_alerts_on(n, seed, &calls)
}

/// Real CloudTrail calls that public detection rules and attack simulations look at: the
/// (service, eventName) pairs of Panther's CloudTrail rule test cases and of Stratus Red Team's
/// detonation logs. A deployment's alerts spread over calls like these.
const WATCHED_CALLS: &[(&str, &str)] = &[
    ("athena", "StartQueryExecution"),
    ("bedrock", "CreateFoundationModelAgreement"),
    ("bedrock", "DeleteGuardrail"),
    ("bedrock", "DeleteModelInvocationLoggingConfiguration"),
    ("bedrock", "GetFoundationModelAvailability"),
    ("bedrock", "InvokeModel"),
    ("bedrock", "ListFoundationModelAgreementOffers"),
    ("bedrock", "ListGuardrails"),
    ("bedrock", "PutFoundationModelEntitlement"),
    ("bedrock", "PutUseCaseForModelAccess"),
    ("bedrock", "UpdateGuardrail"),
    ("billingconsole", "GetAlternateContact"),
    ("billingconsole", "GetContactInformation"),
    ("cloudtrail", "CreateServiceLinkedChannel"),
    ("cloudtrail", "CreateTrail"),
    ("cloudtrail", "DeleteRule"),
    ("cloudtrail", "DeleteTrail"),
    ("cloudtrail", "DescribeTrail"),
    ("cloudtrail", "EnableRegion"),
    ("cloudtrail", "GetEventSelectors"),
    ("cloudtrail", "PutEventSelectors"),
    ("cloudtrail", "StartLogging"),
    ("cloudtrail", "StopLogging"),
    ("cloudtrail", "UpdateTrail"),
    ("codebuild", "CreateProject"),
    ("codebuild", "UpdateProjectVisibility"),
    ("compute-optimizer", "GetEnrollmentStatus"),
    ("config", "DeleteDeliveryChannel"),
    ("config", "PutDeliveryChannel"),
    ("dynamodb", "DescribeTable"),
    ("dynamodb", "GetRecords"),
    ("ec2", "AttachInternetGateway"),
    ("ec2", "AuthorizeSecurityGroupEgress"),
    ("ec2", "AuthorizeSecurityGroupIngress"),
    ("ec2", "CreateImage"),
    ("ec2", "CreateKeyPair"),
    ("ec2", "CreateNetworkAclEntry"),
    ("ec2", "CreateRoute"),
    ("ec2", "CreateSecurityGroup"),
    ("ec2", "CreateTrafficMirrorFilter"),
    ("ec2", "CreateTrafficMirrorFilterRule"),
    ("ec2", "CreateTrafficMirrorSession"),
    ("ec2", "CreateTrafficMirrorTarget"),
    ("ec2", "CreateVpc"),
    ("ec2", "DeleteBucketEncryption"),
    ("ec2", "DeleteBucketPublicAccessBlock"),
    ("ec2", "DeleteBucketReplication"),
    ("ec2", "DeleteFlowLogs"),
    ("ec2", "DeleteTrafficMirrorTarget"),
    ("ec2", "DescribeAccountAttributes"),
    ("ec2", "DescribeAddresses"),
    ("ec2", "DescribeAvailabilityZones"),
    ("ec2", "DescribeClassicLinkInstances"),
    ("ec2", "DescribeHosts"),
    ("ec2", "DescribeInstanceAttribute"),
    ("ec2", "DescribeInstanceCreditSpecifications"),
    ("ec2", "DescribeInstanceStatus"),
    ("ec2", "DescribeInstanceTypes"),
    ("ec2", "DescribeInstances"),
    ("ec2", "DescribeKeyPairs"),
    ("ec2", "DescribeLaunchTemplates"),
    ("ec2", "DescribeNetworkAcls"),
    ("ec2", "DescribePlacementGroups"),
    ("ec2", "DescribeRouteTables"),
    ("ec2", "DescribeSecurityGroups"),
    ("ec2", "DescribeSnapshots"),
    ("ec2", "DescribeTags"),
    ("ec2", "DescribeTrafficMirrorTargets"),
    ("ec2", "DescribeVolumeStatus"),
    ("ec2", "DescribeVolumes"),
    ("ec2", "DescribeVolumesModifications"),
    ("ec2", "DescribeVpcs"),
    ("ec2", "DisableEbsEncryptionByDefault"),
    ("ec2", "EnableSerialConsoleAccess"),
    ("ec2", "GetPasswordData"),
    ("ec2", "ModifyImageAttribute"),
    ("ec2", "ModifyInstanceAttribute"),
    ("ec2", "ModifySnapshotAttribute"),
    ("ec2", "ModifyTrafficMirrorSession"),
    ("ec2", "PutBucketLogging"),
    ("ec2", "PutBucketVersioning"),
    ("ec2", "RegisterManagedInstance"),
    ("ec2", "RunInstances"),
    ("ec2", "StartInstances"),
    ("ec2", "StopInstances"),
    ("ec2", "TerminateInstances"),
    ("ec2-instance-connect", "SendSSHPublicKey"),
    ("ec2-instance-connect", "SendSerialConsoleSSHPublicKey"),
    ("ec2messages", "SendHeartbeat"),
    ("ecr", "PutImage"),
    ("ecr", "SetRepositoryPolicy"),
    ("elasticloadbalancing", "DescribeLoadBalancers"),
    ("es", "CreateElasticsearchDomain"),
    ("glue", "GetPartition"),
    ("iam", "AddUserToGroup"),
    ("iam", "AttachRolePolicy"),
    ("iam", "AttachUserPolicy"),
    ("iam", "ChangePassword"),
    ("iam", "CreateAccessKey"),
    ("iam", "CreateLoginProfile"),
    ("iam", "CreateRole"),
    ("iam", "CreateSAMLProvider"),
    ("iam", "CreateServiceLinkedRole"),
    ("iam", "CreateUser"),
    ("iam", "CreateVirtualMFADevice"),
    ("iam", "DeleteGroupPolicy"),
    ("iam", "DeleteLoginProfile"),
    ("iam", "DeleteSAMLProvider"),
    ("iam", "DescribePolicy"),
    ("iam", "DetachUserGroup"),
    ("iam", "EnableMFADevice"),
    ("iam", "GetGroup"),
    ("iam", "GetGroupPolicy"),
    ("iam", "GetRole"),
    ("iam", "GetUserPolicy"),
    ("iam", "ListAccessKeys"),
    ("iam", "ListAttachedGroupPolicies"),
    ("iam", "ListGroups"),
    ("iam", "ListGroupsForUser"),
    ("iam", "NotCreateUser"),
    ("iam", "PutPolicy"),
    ("iam", "PutUserPolicy"),
    ("iam", "UpdateAssumeRolePolicy"),
    ("iam", "UpdateLoginProfile"),
    ("iam", "UpdateSAMLProvider"),
    ("kms", "Decrypt"),
    ("kms", "DisableKey"),
    ("kms", "PutKeyPolicy"),
    ("kms", "RotateKey"),
    ("kms", "ScheduleKeyDeletion"),
    ("lambda", "AddPermission20150331"),
    ("lambda", "AddPermission20150331v2"),
    ("lambda", "DeleteFunction"),
    ("lambda", "ListFunctions20150331"),
    ("lambda", "RemovePermission"),
    ("lambda", "UpdateFunctionCode20150331"),
    ("lambda", "UpdateFunctionCode20150331v2"),
    ("lambda", "UpdateFunctionConfiguration20150331v2"),
    ("logs", "CreateLogStream"),
    ("macie", "UpdateMacieSession"),
    ("macie2", "ListMembers"),
    ("macie2", "UpdateMacieSession"),
    ("monitoring", "DescribeAlarms"),
    ("organizations", "CreateAccountResult"),
    ("organizations", "DescribeAccount"),
    ("organizations", "LeaveOrganization"),
    ("rds", "AddRoleToDBCluster"),
    ("rds", "AddRoleToDBInstance"),
    ("rds", "AuthorizeDBSecurityGroupIngress"),
    ("rds", "CopyDBClusterSnapshot"),
    ("rds", "CopyDBSnapshot"),
    ("rds", "CreateDBInstance"),
    ("rds", "CreateDBInstanceReadReplica"),
    ("rds", "CreateDBSnapshot"),
    ("rds", "DeleteDBCluster"),
    ("rds", "DeleteDBClusterAutomatedBackup"),
    ("rds", "DeleteDBClusterSnapshot"),
    ("rds", "DeleteDBInstance"),
    ("rds", "DeleteDBInstanceAutomatedBackup"),
    ("rds", "DeleteDBSnapshot"),
    ("rds", "DescribeDBClusterSnapshots"),
    ("rds", "DescribeDBLogFiles"),
    ("rds", "DescribeDBSnapshots"),
    ("rds", "DownloadDBLogFilePortion"),
    ("rds", "FailoverDBCluster"),
    ("rds", "FailoverGlobalCluster"),
    ("rds", "ModifyDBCluster"),
    ("rds", "ModifyDBInstance"),
    ("rds", "ModifyDBSnapshotAttribute"),
    ("rds", "RebootDBCluster"),
    ("rds", "RebootDBInstance"),
    ("rds", "RemoveRoleFromDBInstance"),
    ("rds", "RestoreDBInstanceFromDBSnapshot"),
    ("rds", "RevokeDBSecurityGroupIngress"),
    ("rds", "StartActivityStream"),
    ("rds", "StartDBInstance"),
    ("rds", "StartExportTask"),
    ("rds", "StopActivityStream"),
    ("rolesanywhere", "CreateProfile"),
    ("rolesanywhere", "CreateTrustAnchor"),
    ("route53resolver", "DeleteResolverQueryLogConfig"),
    ("s3", "CopyObject"),
    ("s3", "CreateServiceLinkedRole"),
    ("s3", "DeleteBucket"),
    ("s3", "DeleteBucketEncryption"),
    ("s3", "DeleteBucketPublicAccessBlock"),
    ("s3", "DeleteBucketReplication"),
    ("s3", "DeleteObject"),
    ("s3", "DeleteObjects"),
    ("s3", "GetBucketAcl"),
    ("s3", "GetBucketLifecycle"),
    ("s3", "GetBucketPolicy"),
    ("s3", "GetBucketVersioning"),
    ("s3", "GetObject"),
    ("s3", "JobStatusChanged"),
    ("s3", "ListAllMyBuckets"),
    ("s3", "ListBucket"),
    ("s3", "ListBuckets"),
    ("s3", "ListObjects"),
    ("s3", "PutBucketAcl"),
    ("s3", "PutBucketEncryption"),
    ("s3", "PutBucketLifecycle"),
    ("s3", "PutBucketLogging"),
    ("s3", "PutBucketPolicy"),
    ("s3", "PutBucketPublicAccessBlock"),
    ("s3", "PutBucketReplication"),
    ("s3", "PutBucketVersioning"),
    ("s3", "PutObject"),
    ("s3", "SetQueueAttributes"),
    ("s3-outposts", "PutObject"),
    ("secretsmanager", "BatchGetSecretValue"),
    ("secretsmanager", "GetSecretValue"),
    ("secretsmanager", "ListSecrets"),
    ("secretsmanager", "PutResourcePolicy"),
    ("securityhub", "CreateInsight"),
    ("securityhub", "DeleteInsight"),
    ("securityhub", "UpdateFindings"),
    ("ses", "GetAccountSendingEnabled"),
    ("ses", "GetIdentityVerificationAttributes"),
    ("ses", "GetSendQuota"),
    ("ses", "ListIdentities"),
    ("signin", "AssumeRole"),
    ("signin", "CheckMfa"),
    ("signin", "ConsoleLogin"),
    ("signin", "ExternalIdPDirectoryLogin"),
    ("signin", "GetSigninToken"),
    ("signin", "PasswordUpdated"),
    ("sqs", "SetQueueAttributes"),
    ("ssm", "DescribeInstanceInformation"),
    ("ssm", "DescribeParameters"),
    ("ssm", "GetCommandInvocation"),
    ("ssm", "GetParameter"),
    ("ssm", "GetParameters"),
    ("ssm", "SendCommand"),
    ("ssm", "StartSession"),
    ("ssm", "TerminateSession"),
    ("ssm", "UpdateInstanceInformation"),
    ("ssmmessages", "CreateControlChannel"),
    ("sso", "Authenticate"),
    ("sso", "CreateToken"),
    ("sso", "ListApplications"),
    ("sts", "AssumeRole"),
    ("sts", "GetCallerIdentity"),
    ("sts", "GetFederationToken"),
    ("sts", "GetSessionToken"),
    ("wafv2", "DisassociateWebACL"),
    ("wafv2", "ListWebACLs"),
];

/// Like [`custom_alerts`], but each alert watches a call drawn from the 27 the event generator
/// makes *and* 247 other real API calls ([`WATCHED_CALLS`]), as a deployment's alerts spread
/// over the API surface: about one alert in ten watches a call the generated events make.
pub fn custom_alerts_wide(n: usize, seed: u64) -> String {
    let mut calls: Vec<(&str, &str)> = CALLS.iter().map(|c| (c.0, c.1)).collect();
    for c in WATCHED_CALLS {
        if !calls.contains(c) {
            calls.push(*c);
        }
    }
    custom_alerts_on(n, seed, &calls)
}

fn custom_alerts_on(n: usize, seed: u64, calls: &[(&str, &str)]) -> String {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let (svc, name) = *rng.pick(calls);
        let a = match i % 8 {
            0 => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"low","services":["{svc}"],"events":["{name}"],"users":["{}*"],"regions":["{}"]}}"#,
                rng.pick(USERS),
                rng.pick(REGIONS)
            ),
            1 => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"medium","events":["{}*"],"regions":["{}"],"users":["arn:aws:iam::*:user/{}"]}}"#,
                name.get(..name.len().min(6)).unwrap_or(name),
                rng.pick(REGIONS),
                rng.pick(USERS)
            ),
            2 => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"high","events":["{name}"],"source_ips":{{"include":["{}.0.0.0/8","2001:db8:ffff::/48"],"exclude_aws":true}}}}"#,
                1 + rng.below(200)
            ),
            3 => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"high","events":["{name}"],"request_parameters":[{{"path":"bucketName","value":"bucket-{}"}}]}}"#,
                rng.below(50)
            ),
            4 => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"medium","services":["{svc}"],"response":"unauthorized","threshold":{{"count":5,"window_seconds":300,"group_by":["user"]}}}}"#
            ),
            5 => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"low","pattern":"{{ ($.eventName = \"{name}\") && ($.userIdentity.type = \"IAMUser\") && ($.awsRegion = \"{}\") && ($.userIdentity.userName = \"{}\") }}"}}"#,
                rng.pick(REGIONS),
                rng.pick(USERS)
            ),
            6 => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"critical","events":["{name}"],"users":["arn:aws:iam::*:role/{}"],"response":"success"}}"#,
                rng.pick(ROLES)
            ),
            _ => format!(
                r#"{{"id":"c{i}","name":"c{i}","risk":"low","events":["{name}","Delete*"],"resources":["arn:aws:s3:::bucket-{}"]}}"#,
                rng.below(50)
            ),
        };
        out.push(a);
    }
    format!("[{}]", out.join(","))
}

/// An engine with `total` alerts, as the benches use them: 25 is the 15 CIS built-ins plus 10
/// custom alerts; larger sets are the whole built-in catalog plus `total - 57` custom alerts
/// (seed 7), from [`custom_alerts_wide`] when `wide`, else from [`custom_alerts`].
pub fn engine_of(total: usize, wide: bool) -> Result<trailalerts::Engine, String> {
    let builtin = trailalerts::builtin_alerts();
    let base: Vec<_> = if total < builtin.len() {
        builtin
            .into_iter()
            .filter(|a| a.id.starts_with("cis-"))
            .collect()
    } else {
        builtin
    };
    let custom = total.saturating_sub(base.len());
    let mut b = trailalerts::Engine::builder().builtin(false).alerts(base);
    if custom > 0 {
        b = b
            .alerts_json(&if wide {
                custom_alerts_wide(custom, 7)
            } else {
                custom_alerts(custom, 7)
            })
            .map_err(|e| e.to_string())?;
    }
    let e = b.build().map_err(|e| e.to_string())?;
    if e.alerts().count() != total {
        return Err(format!("{} alerts, not {total}", e.alerts().count()));
    }
    Ok(e)
}

/// The reference parse: the fields trailalerts reads, typed and borrowed (`&str`: the
/// generated corpus has no escaped strings in these fields; setup checks every event parses).
pub mod reference {
    use serde::Deserialize;
    use serde_json::value::RawValue;

    /// A log file: `{"Records":[…]}`.
    #[derive(Deserialize)]
    pub struct Log<'a> {
        /// The events.
        #[serde(borrow, rename = "Records")]
        pub records: Vec<Fields<'a>>,
    }

    /// The fields rules read.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[expect(dead_code, reason = "parsed to be measured, not read")]
    pub struct Fields<'a> {
        #[serde(borrow, rename = "eventID")]
        event_id: Option<&'a str>,
        #[serde(borrow)]
        event_time: Option<&'a str>,
        #[serde(borrow)]
        event_source: Option<&'a str>,
        /// `eventName`.
        #[serde(borrow)]
        pub event_name: Option<&'a str>,
        #[serde(borrow)]
        aws_region: Option<&'a str>,
        #[serde(borrow, rename = "sourceIPAddress")]
        source_ip_address: Option<&'a str>,
        #[serde(borrow)]
        error_code: Option<&'a str>,
        #[serde(borrow)]
        error_message: Option<&'a str>,
        #[serde(borrow)]
        event_type: Option<&'a str>,
        #[serde(borrow)]
        recipient_account_id: Option<&'a str>,
        #[serde(borrow)]
        user_agent: Option<&'a str>,
        #[serde(borrow)]
        user_identity: Option<UserIdentity<'a>>,
        #[serde(borrow)]
        request_parameters: Option<&'a RawValue>,
        #[serde(borrow)]
        response_elements: Option<&'a RawValue>,
        #[serde(borrow)]
        additional_event_data: Option<&'a RawValue>,
        #[serde(borrow)]
        resources: Option<Vec<Resource<'a>>>,
    }

    /// `userIdentity`.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[expect(dead_code, reason = "parsed to be measured, not read")]
    pub struct UserIdentity<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<&'a str>,
        #[serde(borrow)]
        principal_id: Option<&'a str>,
        #[serde(borrow)]
        arn: Option<&'a str>,
        #[serde(borrow)]
        account_id: Option<&'a str>,
        #[serde(borrow)]
        user_name: Option<&'a str>,
        #[serde(borrow)]
        invoked_by: Option<&'a str>,
        #[serde(borrow)]
        session_context: Option<SessionContext<'a>>,
    }

    /// `userIdentity.sessionContext`.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[expect(dead_code, reason = "parsed to be measured, not read")]
    pub struct SessionContext<'a> {
        #[serde(borrow)]
        session_issuer: Option<SessionIssuer<'a>>,
    }

    /// `sessionContext.sessionIssuer`.
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    #[expect(dead_code, reason = "parsed to be measured, not read")]
    pub struct SessionIssuer<'a> {
        #[serde(borrow, rename = "type")]
        kind: Option<&'a str>,
        #[serde(borrow)]
        user_name: Option<&'a str>,
        #[serde(borrow)]
        arn: Option<&'a str>,
        #[serde(borrow)]
        account_id: Option<&'a str>,
    }

    /// One of `resources`.
    #[derive(Deserialize)]
    #[expect(dead_code, reason = "parsed to be measured, not read")]
    pub struct Resource<'a> {
        #[serde(borrow, rename = "ARN", alias = "arn")]
        arn: Option<&'a str>,
    }
}
