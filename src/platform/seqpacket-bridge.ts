/**
 * The bridge between brigd and a conmon attach socket (SOCK_SEQPACKET, which node cannot open),
 * one script for Linux and FreeBSD. perl is part of every Debian system (perl-base is Essential)
 * and a package on FreeBSD (lang/perl5). No module is loaded (Socket alone costs ~20 ms of
 * start-up): AF_UNIX = 1 and SOCK_SEQPACKET = 5 on both systems; sockaddr_un is packed by hand
 * (Linux: a 16-bit family; FreeBSD: sun_len and an 8-bit family, see unix(4)).
 *
 * Protocol: a zero-length packet first says "connected"; each packet read from the socket goes to
 * stdout as [u32 BE length][bytes]; stdin bytes become packets; stdin EOF shuts the socket's write
 * side. With the path `-` the path is the first line of stdin (read a byte at a time: nothing
 * after it is consumed before select).
 *
 * The output is never dropped because input failed: when the container exits while stdin still
 * has bytes for it, a send fails (EPIPE; SIGPIPE is ignored) and the bridge stops sending but
 * reads on; and Linux reports ECONNRESET on a read before the packets still queued, so a failed
 * read is retried (a few times) before the bridge gives up. Only EOF ends it normally.
 */
export const SEQPACKET_BRIDGE = `
$SIG{PIPE} = 'IGNORE';
my $p = $ARGV[0];
if ($p eq '-') { $p = ''; while (1) { my $k = sysread(STDIN, my $c, 1); exit 0 unless $k; last if $c eq "\\n"; $p .= $c; } }
socket(my $s, 1, 5, 0) or die "socket: $!\\n";
my $family = $^O eq 'freebsd' ? pack('CC', 0, 1) : pack('S', 1);
connect($s, $family . $p . "\\0") or die "connect $p: $!\\n";
binmode STDIN; binmode STDOUT;
sub wall { my ($fh, $d) = @_; while (length $d) { my $n = syswrite($fh, $d); exit 0 unless defined $n && $n > 0; substr($d, 0, $n) = ''; } }
wall(\\*STDOUT, pack('N', 0));
my $in = 1;
my $errors = 0;
while (1) {
  my $r = '';
  vec($r, fileno($s), 1) = 1;
  vec($r, fileno(STDIN), 1) = 1 if $in;
  my $n = select(my $ready = $r, undef, undef, undef);
  next if $n < 0;
  if (vec($ready, fileno($s), 1)) {
    my $buf; my $k = sysread($s, $buf, 65536);
    if (!defined $k) { exit 0 if ++$errors > 8; next; }
    exit 0 unless $k;
    wall(\\*STDOUT, pack('N', $k) . $buf);
  }
  if ($in && vec($ready, fileno(STDIN), 1)) {
    my $buf; my $k = sysread(STDIN, $buf, 8192);
    if (!$k) { $in = 0; shutdown($s, 1); }
    elsif (!defined send($s, $buf, 0)) { $in = 0; }
  }
}
`;

/** The bridge's command for a socket path (`-`: the path comes as stdin's first line). */
export function seqpacketBridgeCommand(socketPath: string): { cmd: string; args: string[] } {
  return { cmd: 'perl', args: ['-e', SEQPACKET_BRIDGE, socketPath] };
}
