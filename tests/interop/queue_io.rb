# queue_io.rb: the Ruby twin of queue_io.c (same arguments, same lines).
LINE_LEN = 16

def line(text)
  text.ljust(LINE_LEN - 1, '.')[0, LINE_LEN - 1] + "\n"
end

def write_lines(path, tag, count)
  File.open(path, File::WRONLY) do |f|
    count.times do |i|
      n = f.syswrite(line(format('%s:%06d', tag, i)))
      raise 'short write' unless n == LINE_LEN
    end
  end
end

def read_lines(path)
  end_line = line('END')
  File.open(path, File::RDONLY) do |f|
    loop do
      l = f.sysread(LINE_LEN)
      raise "read returned #{l.bytesize}, want one #{LINE_LEN}-byte line" unless l.bytesize == LINE_LEN
      break if l == end_line
      $stdout.write(l)
    end
  end
  $stdout.flush
end

mode, path, tag, count = ARGV
if mode == 'write' && count
  write_lines(path, tag, Integer(count))
elsif mode == 'read' && path
  read_lines(path)
else
  warn 'usage: queue_io.rb write PATH TAG COUNT | read PATH'
  exit 2
end
