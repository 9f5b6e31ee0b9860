/**
 * The one catalogue of error codes. A code never changes meaning and is never reused.
 * Group codes by area; add new ones at the end of their area. `docs/errors.md` is generated
 * from this table (scripts/gen-error-docs.mjs).
 */
import type { ErrorKind } from './errors.ts';

interface Entry {
  kind: ErrorKind;
  doc: string;
  hint?: string;
}

function e(kind: ErrorKind, doc: string, hint?: string): Entry {
  return hint === undefined ? { kind, doc } : { kind, doc, hint };
}

export const CATALOGUE = {
  // generic
  ERR_INTERNAL: e(
    'internal',
    'An unexpected failure inside brig.',
    'Report it with the output of `brig system info`.',
  ),
  ERR_INVALID_ARGUMENT: e('invalid-argument', 'An argument or request field is malformed.'),
  ERR_NOT_FOUND: e('not-found', 'A file or object does not exist.'),
  ERR_ALREADY_EXISTS: e('already-exists', 'An object with that name already exists.'),
  ERR_PERMISSION_DENIED: e('permission-denied', 'The operation is not permitted.'),
  ERR_NO_SPACE: e(
    'unavailable',
    'The disk is full.',
    'Free space under the brig root, e.g. `brig image prune`.',
  ),
  ERR_UNSUPPORTED_PLATFORM: e('failed-precondition', 'The operation is not available on this platform.'),
  ERR_COMMAND_FAILED: e('internal', 'A host command exited with an error.'),
  ERR_COMMAND_NOT_FOUND: e(
    'failed-precondition',
    'A host command is not installed.',
    'Run scripts/setup to install the system packages.',
  ),

  // configuration and daemon
  ERR_CONFIG_INVALID: e(
    'invalid-argument',
    'The daemon configuration file has an unknown key or a wrong type.',
    'Fix the key named in the message; docs/configuration.md lists every key.',
  ),
  ERR_CONFIG_UNREADABLE: e('invalid-argument', 'The daemon configuration file cannot be read or parsed.'),
  ERR_DAEMON_RUNNING: e(
    'failed-precondition',
    'Another brigd already owns this root directory or answers on this socket.',
    'Stop the other brigd, or use another --root and --socket.',
  ),
  ERR_DAEMON_LOCK: e(
    'failed-precondition',
    'brigd cannot take or record the lock of its root directory (brigd.lock, brigd.pid).',
    'Check that brigd can write its root directory; the message names the file and the reason.',
  ),
  ERR_DAEMON_STOPPING: e(
    'unavailable',
    'brigd was stopped (SIGTERM or SIGINT) while it was answering this request.',
    'Start brigd again and repeat the command; what the stopped request left half done is removed at the next start.',
  ),
  ERR_DAEMON_UNAVAILABLE: e(
    'unavailable',
    'brig cannot reach brigd.',
    'Start brigd, or point brig at it with --host unix://PATH or BRIG_HOST.',
  ),
  ERR_DAEMON_CONNECTION_LOST: e(
    'unavailable',
    'brigd closed or reset the connection before it had answered: it stopped or crashed mid-request.',
    'Look at brigd’s log for why it stopped, start it again, then check whether the operation took effect.',
  ),
  ERR_REQUEST_CANCELLED: e(
    'unavailable',
    'The client closed the connection before brigd had answered: brigd stopped the request and undid what it had done.',
    'Run the command again and let it finish.',
  ),
  ERR_API_ROUTE: e('not-found', 'No API route matches the request.'),
  ERR_API_BODY: e('invalid-argument', 'The request body is not valid JSON or misses a field.'),
  ERR_DB: e('internal', 'The state database failed.'),
  ERR_DB_MIGRATION: e(
    'failed-precondition',
    'The state database schema is newer than this brigd.',
    'Run the brigd version that wrote this root.',
  ),

  // content store
  ERR_CONTENT_NOT_FOUND: e('not-found', 'No blob with that digest is in the content store.'),
  ERR_CONTENT_DIGEST_MISMATCH: e(
    'invalid-argument',
    'A blob’s bytes do not hash to the digest they were announced with.',
    'The source is corrupt or was tampered with; fetch it again.',
  ),
  ERR_CONTENT_SIZE_MISMATCH: e(
    'invalid-argument',
    'A blob’s length differs from the size it was announced with.',
    'The source is corrupt or truncated; fetch it again.',
  ),
  ERR_CONTENT_CORRUPT: e(
    'internal',
    'A stored blob no longer matches its digest.',
    'Remove the image and import or pull it again.',
  ),
  ERR_DIGEST_INVALID: e('invalid-argument', 'A digest is not of the form sha256:<64 hex digits>.'),
  ERR_LEASE_NOT_FOUND: e('not-found', 'No lease with that id exists.'),

  // images
  ERR_IMAGE_NOT_FOUND: e(
    'not-found',
    'No image with that name or id is known.',
    'List images with `brig images`, or import or pull it.',
  ),
  ERR_IMAGE_INVALID: e('invalid-argument', 'An image manifest, index or config is malformed.'),
  ERR_IMAGE_MEDIA_TYPE: e('invalid-argument', 'A descriptor has a media type brig does not handle.'),
  ERR_IMAGE_PLATFORM: e(
    'not-found',
    'An image index has no manifest for the wanted platform.',
    'Pick another with --platform OS/ARCH[/VARIANT].',
  ),
  ERR_IMAGE_IN_USE: e(
    'conflict',
    'The image is used by a container.',
    'Remove the container first, or use `brig image rm -f`.',
  ),
  ERR_IMAGE_AMBIGUOUS: e(
    'invalid-argument',
    'An image source holds several images.',
    'Pick one with --ref NAME.',
  ),
  ERR_IMAGE_SOURCE: e(
    'invalid-argument',
    'An import source is not a recognised image layout, archive or root filesystem.',
    'Give an OCI layout directory, an OCI archive, a docker-archive (docker save) or a root filesystem (directory or tarball).',
  ),
  ERR_REFERENCE_INVALID: e(
    'invalid-argument',
    'An image reference cannot be parsed.',
    'Use NAME[:TAG][@DIGEST], e.g. example.org/app:1.0.',
  ),
  ERR_BRIG_SECTION_INVALID: e(
    'invalid-argument',
    'The image config’s `brig` section is malformed.',
    'docs/image-format.md describes every field.',
  ),

  // layers
  ERR_LAYER_UNSAFE_PATH: e(
    'permission-denied',
    'A layer entry would create, change or remove something outside the target root.',
    'The image is hostile or broken; do not use it.',
  ),
  ERR_LAYER_INVALID: e('invalid-argument', 'A layer is not a valid tar stream.'),
  ERR_LAYER_DEVICE_REFUSED: e(
    'permission-denied',
    'A layer holds a device node and the unpack is unprivileged.',
    'Unpack as root, or remove the device from the image.',
  ),
  ERR_LAYER_COMPRESSION: e('invalid-argument', 'A layer’s compression is not tar, gzip or zstd.'),

  // snapshots
  ERR_SNAPSHOT_NOT_FOUND: e('not-found', 'No snapshot with that key exists.'),
  ERR_SNAPSHOT_EXISTS: e('already-exists', 'A snapshot with that key already exists.'),
  ERR_SNAPSHOT_IN_USE: e('conflict', 'The snapshot has children or is mounted.'),
  ERR_SNAPSHOT_STATE: e(
    'failed-precondition',
    'The snapshot is not in the right state (active vs committed) for that operation.',
  ),
  ERR_SNAPSHOTTER_UNAVAILABLE: e(
    'failed-precondition',
    'The configured snapshotter cannot work on this host.',
    'Pick another with `storage.driver` in the configuration.',
  ),

  // containers and runtime
  ERR_CONTAINER_NOT_FOUND: e(
    'not-found',
    'No container with that name or id.',
    'List containers with `brig ps -a`.',
  ),
  ERR_CONTAINER_NAME_IN_USE: e(
    'already-exists',
    'The container name is taken.',
    'Pick another --name, or remove the other container.',
  ),
  ERR_CONTAINER_STATE: e('failed-precondition', 'The container is not in a state that allows the operation.'),
  ERR_CONTAINER_RUNNING: e('conflict', 'The container is running.', 'Stop it first, or use `brig rm -f`.'),
  ERR_CONTAINER_PATH_READ_ONLY: e(
    'failed-precondition',
    '`brig cp` into the container: the destination is on a read-only mount (a `:ro` volume or bind, or the `--read-only` root).',
    'Copy to a writable path, or into the volume or host directory itself.',
  ),
  ERR_CONTAINER_PATH_UNREACHABLE: e(
    'failed-precondition',
    '`brig cp` into the container: the destination is on a mount brigd cannot write from the host (a tmpfs, or a mount made inside the container).',
    'Copy into a volume or the root filesystem, or stream it: `tar -c FILES | brig exec -i CTR tar -x -C DIR`.',
  ),
  ERR_RUNTIME_UNAVAILABLE: e(
    'failed-precondition',
    'No working OCI runtime was found.',
    'Install runc or crun (scripts/setup), or set `runtime.name`.',
  ),
  ERR_RUNTIME_START: e('failed-precondition', 'The OCI runtime failed to start the container.'),
  ERR_RUNTIME: e('internal', 'The OCI runtime failed.'),
  ERR_EXEC_FAILED: e('failed-precondition', 'The process could not be executed in the container.'),
  ERR_NO_COMMAND: e(
    'invalid-argument',
    'Neither the image nor the command line names a command to run.',
    'Give a command after the image name.',
  ),
  ERR_USER_UNKNOWN: e(
    'invalid-argument',
    'The user or group is not in the container’s /etc/passwd or /etc/group.',
  ),
  ERR_MOUNT_INVALID: e('invalid-argument', 'A mount or volume specification is malformed.'),
  ERR_PARAMETER_MISSING: e(
    'invalid-argument',
    'The image requires a parameter or volume that was not given.',
    'Pass it with -e NAME=VALUE or -v; `brig image explain IMAGE` lists them.',
  ),
  ERR_CONTAINER_COMMAND_NOT_FOUND: e(
    'invalid-argument',
    'The container’s command does not exist in its root filesystem (docker’s exit status 127, in details.exitCode).',
    'Check the command, its path and the image’s PATH (`brig image inspect IMAGE`).',
  ),
  ERR_CONTAINER_COMMAND_NOT_EXECUTABLE: e(
    'invalid-argument',
    'The container’s command exists but cannot be run: not executable, a directory, or not a program (docker’s exit status 126, in details.exitCode).',
    'Name an executable file; the image’s files are listed by `brig image unpack IMAGE DIR`.',
  ),

  // volumes
  ERR_VOLUME_NOT_FOUND: e('not-found', 'No volume with that name.'),
  ERR_VOLUME_IN_USE: e('conflict', 'The volume is used by a container.', 'Remove the container first.'),
  ERR_VOLUME_EXISTS: e('already-exists', 'A volume with that name already exists.'),

  // policy and devfs
  ERR_PRIVILEGE_REFUSED: e(
    'permission-denied',
    'The host policy refuses a privilege the image requests.',
    'Grant it in the policy key named, or pass --grant PRIV.',
  ),
  ERR_GRANT_NOT_ALLOWED: e('permission-denied', 'Only an administrator of the daemon may use --grant.'),
  ERR_GRANT_UNUSED: e(
    'invalid-argument',
    'A --grant names a privilege the image does not request (nor a bind mount or port of the run).',
    'Drop that --grant; `brig image explain IMAGE` lists what the image requests.',
  ),
  ERR_PRIVILEGE_INVALID: e('invalid-argument', 'A privilege or --grant value is not in brig’s vocabulary.'),
  ERR_DEVFS_RULE_INVALID: e('invalid-argument', 'A devfs rule cannot be parsed as devfs(8) defines it.'),
  ERR_DEVFS_RULESETS_EXHAUSTED: e(
    'unavailable',
    'Every devfs ruleset number in the host’s range is in use.',
    'Raise `policy.devfs.rulesets.max`, or remove containers.',
  ),

  // registry
  ERR_REGISTRY_UNAUTHORIZED: e(
    'permission-denied',
    'The registry refused the credentials.',
    'Log in with `brig login HOST`.',
  ),
  ERR_REGISTRY_DENIED: e('permission-denied', 'The registry denied access to the repository.'),
  ERR_REGISTRY_NOT_FOUND: e('not-found', 'The registry has no such repository, tag or blob.'),
  ERR_REGISTRY_TOO_MANY_REQUESTS: e(
    'unavailable',
    'The registry is rate-limiting requests.',
    'Wait and try again.',
  ),
  ERR_REGISTRY_UNAVAILABLE: e('unavailable', 'The registry cannot be reached or keeps failing.'),
  ERR_REGISTRY_PROTOCOL: e(
    'internal',
    'The registry answered in a way the distribution spec does not allow.',
  ),
  ERR_REGISTRY_TLS: e(
    'unavailable',
    'TLS verification of the registry failed.',
    'Put its CA in certs.d/HOST[:PORT]/ca.crt beside the configuration, or list it in registries.insecure.',
  ),
  ERR_CREDENTIALS: e('invalid-argument', 'The credentials file cannot be read or written.'),
  ERR_CREDENTIAL_HELPER: e(
    'unavailable',
    'A docker credential helper (docker-credential-NAME, from credsStore or credHelpers) failed.',
    'Run the helper by hand (`echo -n HOST | docker-credential-NAME get`) to see why, e.g. a locked keyring.',
  ),
  ERR_CREDENTIAL_HELPER_NOT_FOUND: e(
    'failed-precondition',
    'The credential helper that credsStore or credHelpers names is not installed on brigd’s PATH.',
    'Install docker-credential-NAME where brigd finds it, or remove credsStore/credHelpers from the file.',
  ),
  ERR_REGISTRY_REJECTED: e(
    'invalid-argument',
    'The registry refused what brig sent (manifest, digest, name, tag or size invalid).',
  ),

  // network
  ERR_NETWORK_NOT_FOUND: e('not-found', 'No network with that name.'),
  ERR_ADDRESS_EXHAUSTED: e('unavailable', 'No address is left in the network’s subnet.'),
  ERR_PORT_IN_USE: e('conflict', 'The host port is already published.'),

  // FreeBSD
  ERR_RACCT_DISABLED: e(
    'failed-precondition',
    'Resource limits need kern.racct.enable=1.',
    'Add kern.racct.enable=1 to /boot/loader.conf and reboot.',
  ),
  ERR_ZFS_DATASET: e(
    'failed-precondition',
    'The configured ZFS dataset does not exist.',
    'Create it with `zfs create`, or use the native snapshotter.',
  ),
  ERR_SIMULATED_HOST: e(
    'invalid-argument',
    'The simulated FreeBSD host refused a command as the manual page would.',
  ),
  ERR_ZFS_DIFF_PARSE: e('internal', '`zfs diff` printed a line brig cannot read.'),
} as const satisfies Record<string, Entry>;

export type ErrorCode = keyof typeof CATALOGUE;
