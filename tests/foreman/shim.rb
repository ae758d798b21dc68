# frozen_string_literal: true

# A small stand-in for Foreman's template renderer, to render the fleetnode snippets with
# Ruby's ERB outside Foreman, and to lint them for Foreman's safe mode.
#
#   ruby shim.rb render PARAMS.yaml TEMPLATE_NAME [--var NAME=VALUE]...
#   ruby shim.rb lint                 # metadata headers + safe-mode restrictions, every template
#   ruby shim.rb list                 # template names and files
#   ruby shim.rb meta PARAMS.yaml FIELD   # a parameter set's expect/message/expect_toml/...
#
# PARAMS.yaml: `host:` (name, ip, ip6, os, major) and `params:` (host parameters as Foreman
# resolves them for the host: global < organization < location < host group < host; values
# may be strings, booleans, arrays or hashes, like typed Foreman parameters).
# Macros implemented as Foreman does (app/services/foreman/renderer/scope/macros/):
# host_param, host_param!, host_param_true?, host_param_false?, snippet, snippet_if_exists,
# template_name, save_to_file, indent, shell_escape, plugin_present?, foreman_url, root_pass,
# raise; @host with name, shortname, ip, ip6, domain, params, operatingsystem, diskLayout.
# Exit status: 0 rendered, 3 the template raised (message on stderr), 2 usage, 1 lint failures.

require 'erb'
require 'ripper'
require 'shellwords'
require 'yaml'
require 'digest'
require 'base64'
require 'set'

TEMPLATE_DIRS = (ENV['FOREMAN_TEMPLATE_DIRS'] || File.expand_path('../../foreman', __dir__)).split(':').freeze

# ---- templates ---------------------------------------------------------------------------

Template = Struct.new(:name, :file, :source, :meta)

def metadata_of(source)
  m = source.match(/\A<%#\n(.*?)\n-?%>\n/m)
  return nil unless m

  YAML.safe_load(m[1])
rescue Psych::Exception
  nil
end

def load_templates
  Dir.glob(TEMPLATE_DIRS.map { |d| File.join(d, '**', '*.erb') }).sort.map do |file|
    source = File.read(file, encoding: 'UTF-8')
    meta = metadata_of(source) || {}
    Template.new(meta['name'], file, source, meta)
  end
end

TEMPLATES = load_templates

def find_template(name)
  TEMPLATES.find { |t| t.name == name }
end

# ---- the host and the rendering scope ----------------------------------------------------

OperatingSystem = Struct.new(:name, :major, :minor, :family, :password_hash) do
  def to_s
    "#{name} #{major}.#{minor}"
  end
end
Domain = Struct.new(:name) do
  def to_s
    name
  end
end

# Foreman's Host::Managed, reduced to what provisioning snippets commonly read.
class FakeHost
  attr_reader :name, :ip, :ip6, :params, :operatingsystem, :domain

  def initialize(spec, params)
    @name = spec.fetch('name')
    @ip = spec['ip']
    @ip6 = spec['ip6']
    @params = params
    @operatingsystem = OperatingSystem.new(spec.fetch('os', 'Rocky'), spec.fetch('major', '9').to_s,
                                           spec.fetch('minor', '4').to_s, 'Redhat', 'SHA512')
    @domain = Domain.new(@name.split('.', 2)[1])
  end

  def shortname
    @name.split('.').first
  end

  def host_param(name)
    @params[name]
  end

  def diskLayout # rubocop:disable Naming/MethodName -- Foreman's name
    'autopart'
  end

  def to_s
    @name
  end
end

# Foreman::Cast.to_bool
def cast_to_bool(value)
  case value
  when true, false, nil then value
  when Integer then value != 0
  else
    s = value.to_s.strip
    return true if s.match?(/\A(true|t|yes|y|on|1)\z/i)
    return false if s.empty? || s.match?(/\A(false|f|no|n|off|0)\z/i)

    nil
  end
end

# The binding templates are evaluated in: instance variables + macros.
class RenderScope
  attr_reader :template_name

  def initialize(host, template, variables)
    @host = host
    @template_name = template.name
    @mediapath = 'url --url=http://mirror.example.com/rocky/9/BaseOS/x86_64/os/'
    variables.each { |k, v| instance_variable_set("@#{k}", v) }
    @variables = variables
  end

  def render_template(template)
    ERB.new(template.source, trim_mode: '-').result(binding)
  end

  def host_param(name, default = nil)
    @host.host_param(name) || default
  end

  def host_param!(name)
    raise "Parameter #{name} is not set for host #{@host}" if @host.host_param(name).nil?

    host_param(name)
  end

  def host_param_true?(name, default = false)
    cast_to_bool(@host.params.fetch(name, default)) == true
  end

  def host_param_false?(name, default = true)
    cast_to_bool(@host.params.fetch(name, default)) == false
  end

  def snippet(name, options = {}, variables: {})
    template = find_template(name)
    unless template
      raise "The specified snippet '#{name}' does not exist, or is not a snippet." unless options[:silent]

      return nil
    end
    vars = @variables.merge(variables).merge(options[:variables] || {})
    begin
      RenderScope.new(@host, template, vars).render_template(template)
    rescue StandardError => e
      raise RuntimeError, "The snippet '#{name}' threw an error: #{e.message}", e.backtrace
    end
  end

  def snippet_if_exists(name, options = {})
    snippet(name, { silent: true }, variables: options[:variables] || {})
  end

  def save_to_file(filename, content, verbatim: false)
    delimiter = "EOF-#{Digest::SHA512.hexdigest(filename)[0..7]}"
    if content.empty?
      "cp /dev/null #{filename}"
    elsif verbatim
      "cat << #{delimiter} | base64 -d > #{filename}\n#{Base64.encode64(content)}#{delimiter}"
    else
      content += "\n" unless content.end_with?("\n")
      "cat << #{delimiter} > #{filename}\n#{content}#{delimiter}"
    end
  end

  def indent(count, skip1: false, skip_content: nil)
    return unless block_given? && (text = yield.to_s)

    text.each_line.with_index.map do |line, i|
      (i.zero? && skip1) || (skip_content && line.chomp == skip_content) ? line : (' ' * count) + line
    end.join
  end

  def shell_escape(string)
    Shellwords.shellescape(string)
  end

  def plugin_present?(_name)
    false
  end

  def foreman_url(action = 'provision')
    "http://foreman.example.com/unattended/#{action}?token=00000000-0000-0000-0000-000000000000"
  end

  def root_pass
    '$6$rounds=10000$salt$ZHVtbXkgcGFzc3dvcmQgaGFzaCBmb3IgdGVzdHM'
  end
end

def render(params_file, name, variables)
  spec = YAML.safe_load(File.read(params_file), aliases: false) || {}
  host = FakeHost.new(spec.fetch('host'), spec.fetch('params', {}) || {})
  template = find_template(name) or abort("shim: no template named #{name.inspect}")
  RenderScope.new(host, template, variables).render_template(template)
end

# ---- lint: metadata and Foreman's safe mode ----------------------------------------------
#
# With safe mode on (Foreman's default), templates run in the safemode gem's jail: no method,
# class or module definitions, no begin/rescue/return, no constants but String, no global,
# class or instance variable assignment, no attribute or index assignment, no backticks,
# no regexps with interpolation or =~, no &block passing; and only whitelisted methods can be
# called on jailed objects and the rendering scope. This check approximates that statically.

CORE_METHODS = %w[
  % & * ** + +@ - -@ / < << <= <=> ! != == === > >= >> ^ | ~ eql? equal? new methods is_a?
  kind_of? nil? [] []= to_a to_jail to_s inspect to_param not freeze
  any? assoc at blank? collect compact concat delete delete_at delete_if each each_index empty?
  fetch fill first flatten hash include? index indexes indices inject insert join last length map
  pop push present? rassoc reject reverse reverse_each rindex select shift size slice sort
  transpose uniq unshift values_at zip
  abs ceil chr div divmod downto floor integer? modulo next nonzero? round step succ times to_f
  to_i to_int to_sym truncate upto zero?
  clear each_key each_pair each_value has_key? has_value? invert key? keys member? merge store
  update value? values
  capitalize casecmp center chomp chop count crypt downcase dump each_byte each_line end_with?
  gsub hex lstrip ljust match oct rjust rstrip scan split squeeze start_with? strip sub sum
  swapcase to_str tr tr_s upcase
].freeze

FOREMAN_HELPERS = %w[
  foreman_url snippet snippets snippet_if_exists indent foreman_server_fqdn foreman_server_url
  log_debug log_info log_warn log_error template_name dns_lookup pxe_kernel_options save_to_file
  subnet_param subnet_has_param? global_setting plugin_present? medium_uri preview? raise input
  rand parse_yaml parse_json to_json to_yaml foreman_server_ca_cert shell_escape truthy? falsy?
  grub_pass ks_console root_pass host_param_true? host_param_false? host_param host_param!
  host_puppet_server host_enc
].freeze

HOST_METHODS = %w[
  name ip ip6 mac shortname domain params operatingsystem hostgroup diskLayout subnet subnet6
  location organization architecture primary_interface provision_interface interfaces host_param
  major minor family password_hash
].freeze

ALLOWED_CALLS = (CORE_METHODS + FOREMAN_HELPERS + HOST_METHODS).to_set

# ERB's own generated code
ERB_CALLS = %w[<< concat freeze to_s +@].to_set

DISALLOWED_NODES = {
  def: 'method definition', defs: 'method definition', class: 'class definition',
  module: 'module definition', sclass: 'singleton class', alias: 'alias', var_alias: 'alias',
  undef: 'undef', begin: 'begin block', rescue: 'rescue', rescue_mod: 'rescue modifier',
  ensure: 'ensure', return: 'return', return0: 'return', redo: 'redo', retry: 'retry',
  defined: 'defined?', super: 'super', zsuper: 'super', lambda: 'lambda', xstring_literal: 'backticks',
  BEGIN: 'BEGIN', END: 'END', blockarg: '&block parameter', top_const_ref: 'constant',
  const_path_ref: 'constant', const_path_field: 'constant assignment', field: 'attribute assignment',
  aref_field: 'index assignment'
}.freeze

def lint_sexp(node, problems, calls)
  return unless node.is_a?(Array)

  if node[0].is_a?(Symbol)
    type = node[0]
    problems << DISALLOWED_NODES[type] if DISALLOWED_NODES.key?(type)
    case type
    when :var_ref, :var_field
      ref = node[1]
      if ref.is_a?(Array)
        problems << "constant #{ref[1]}" if ref[0] == :@const && ref[1] != 'String'
        problems << "global variable #{ref[1]}" if ref[0] == :@gvar || ref[0] == :@backref
        problems << "class variable #{ref[1]}" if ref[0] == :@cvar
        problems << "instance variable assignment #{ref[1]}" if type == :var_field && ref[0] == :@ivar
      end
    when :@backref, :@gvar
      problems << "global variable #{node[1]}"
    when :binary
      problems << "operator #{node[2]}" if %i[=~ !~].include?(node[2])
      calls << node[2].to_s unless %i[&& || and or].include?(node[2])
    when :unary
      calls << node[1].to_s.sub(/\A(not)\z/, '!')
    when :regexp_literal
      problems << 'regexp with interpolation' if node[1].any? { |part| part.is_a?(Array) && part[0] == :string_embexpr }
    when :args_add_block
      problems << '&block argument' if node[2] && node[2] != false
    when :call, :command_call
      name = node[3]
      calls << name[1] if name.is_a?(Array) && %i[@ident @op @const].include?(name[0])
      calls << 'call' if name == :call
    when :fcall, :vcall
      calls << node[1][1] if node[1].is_a?(Array)
    when :command
      calls << node[1][1] if node[1].is_a?(Array)
    when :aref
      calls << '[]'
    when :opassign
      target = node[1]
      problems << 'instance variable assignment' if target.is_a?(Array) && target[1].is_a?(Array) && target[1][0] == :@ivar
    end
  end
  node.each { |child| lint_sexp(child, problems, calls) }
end

def lint(template)
  problems = []
  meta = template.meta
  problems << 'no metadata header (<%# kind: ... name: ... model: ... %>)' if meta.empty?
  %w[kind name model description].each { |k| problems << "metadata: no #{k}" unless meta[k] }
  problems << 'metadata: model is not ProvisioningTemplate' unless meta['model'] == 'ProvisioningTemplate'
  problems << 'metadata: snippet without snippet: true' if meta['kind'] == 'snippet' && meta['snippet'] != true
  src = ERB.new(template.source, trim_mode: '-').src
  sexp = Ripper.sexp(src)
  if sexp.nil?
    problems << 'Ruby syntax error in the ERB code'
  else
    calls = []
    lint_sexp(sexp, problems, calls)
    calls.uniq.each do |c|
      next if ALLOWED_CALLS.include?(c) || ERB_CALLS.include?(c) || c == '_erbout'

      problems << "call to #{c} (not allowed in safe mode)"
    end
  end
  problems.uniq
end

# ---- command line --------------------------------------------------------------------------

def usage
  warn 'usage: shim.rb render PARAMS.yaml TEMPLATE_NAME [--var NAME=VALUE]... | lint | list | meta PARAMS.yaml FIELD'
  exit 2
end

case ARGV.shift
when 'render'
  params_file = ARGV.shift or usage
  name = ARGV.shift or usage
  variables = {}
  while (arg = ARGV.shift)
    usage unless arg == '--var' && (kv = ARGV.shift)&.include?('=')
    k, v = kv.split('=', 2)
    variables[k] = v
  end
  begin
    $stdout.write(render(params_file, name, variables))
  rescue StandardError => e
    warn "render error: #{e.message}"
    exit 3
  end
when 'lint'
  failed = false
  names = TEMPLATES.map(&:name)
  TEMPLATES.each do |t|
    problems = lint(t)
    problems << "duplicate template name #{t.name.inspect}" if names.count(t.name) > 1
    rel = t.file.sub("#{File.expand_path('../..', __dir__)}/", '')
    if problems.empty?
      puts "ok   #{rel} (#{t.meta['kind']}: #{t.name})"
    else
      failed = true
      problems.each { |p| puts "bad  #{rel}: #{p}" }
    end
  end
  exit(failed ? 1 : 0)
when 'meta'
  # meta PARAMS.yaml FIELD: a parameter set's expectation (strings as-is, others as JSON)
  require 'json'
  params_file = ARGV.shift or usage
  field = ARGV.shift or usage
  value = (YAML.safe_load(File.read(params_file), aliases: false) || {})[field]
  puts(value.is_a?(String) ? value : JSON.generate(value)) unless value.nil?
when 'list'
  TEMPLATES.each { |t| puts "#{t.name}\t#{t.file}" }
else
  usage
end
