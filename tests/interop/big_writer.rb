# big_writer.rb: the Ruby twin of big_writer.c (same arguments and bodies),
# except that an lp32 header and its body go in two separate write(2) calls,
# so the daemon must hold a half frame per handle while others write.
framing, path, tag, count, size = ARGV
abort 'usage: big_writer.rb messages|lp32 PATH TAG COUNT SIZE' unless size
count = Integer(count)
size = Integer(size)
tagsum = tag.bytes.sum
File.open(path, File::WRONLY) do |f|
  count.times do |seq|
    head = "#{tag}:#{seq}:".b
    body = head + (((tagsum + 7 * seq) % 256).chr * (size - head.bytesize))
    if framing == 'lp32'
      raise 'short write' unless f.syswrite([size].pack('V')) == 4
    end
    raise 'short write' unless f.syswrite(body) == size
  end
end
