// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// A review-only ERC-20 that misbehaves on demand:
///   mode 0: a plain token;
///   mode 1: `transfer` moves nothing and RETURNS FALSE (no revert, like ZRX/BNB-era tokens);
///   mode 2: fee on transfer: 10 % of every transfer is burned (Transfer to address(0)).
contract NastyToken {
    mapping(address => uint256) public balanceOf;
    address public owner;
    uint8 public mode;

    event Transfer(address indexed from, address indexed to, uint256 value);

    constructor() {
        owner = msg.sender;
    }

    function decimals() external pure returns (uint8) {
        return 6;
    }

    function mint(address to, uint256 value) external {
        require(msg.sender == owner, "only owner");
        balanceOf[to] += value;
        emit Transfer(address(0), to, value);
    }

    function setMode(uint8 value) external {
        require(msg.sender == owner, "only owner");
        mode = value;
    }

    function transfer(address to, uint256 value) external returns (bool) {
        if (mode == 1) return false;
        require(balanceOf[msg.sender] >= value, "balance");
        balanceOf[msg.sender] -= value;
        uint256 fee = mode == 2 ? value / 10 : 0;
        balanceOf[to] += value - fee;
        emit Transfer(msg.sender, to, value - fee);
        if (fee > 0) emit Transfer(msg.sender, address(0), fee);
        return true;
    }
}
